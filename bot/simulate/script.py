"""The demo team's week, as a script: when to be where, which gate to decide, which step to play.

The script is data read off the runbook, so a new runbook gets its own week for free. Who does
what follows the roles: dana (member) runs staging, lee (lead) or sam (on-call SRE) runs
production, the approvers are whoever the step names (never the requester in production),
maria (manager) and lee decide gates, each role signs off its own line; sam backtests the triggers
before a gate that asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from bot.engine.permissions import DEMO_TEAM, TeamMember
from bot.runbook.models import Gate, Runbook, Step
from bot.simulate.backtest_story import backtest_check

# The demo team has one person per role. A production step whose approvals name every role that
# may run it (lead AND on-call SRE) cannot be run by them (the requester's vote does not count
# there), so for such a runbook a second on-call SRE joins the simulation.
SECOND_SRE = TeamMember("U_SRE2", "sky", "sre_oncall")
SIM_TEAM: tuple[TeamMember, ...] = (*DEMO_TEAM, SECOND_SRE)
RUNNERS = ("lead", "sre_oncall")
APPROVING = ("manager", "lead", "sre_oncall")
MORNING = time(8, 45)
EVENING = time(18, 0)


@dataclass(frozen=True)
class Start:
    """``/ion start`` as the lead, on the run's first day."""


@dataclass(frozen=True)
class At:
    """Move the clock to this time of a run day (jobs due on the way fire)."""

    day: int
    at: time


@dataclass(frozen=True)
class Backtest:
    """``/ion backtest`` by on-call, before a gate that asks for one (bot/simulate/backtest_story.py)."""


@dataclass(frozen=True)
class PlayGate:
    gate_id: str


@dataclass(frozen=True)
class PlayStep:
    step_id: str


Act = Start | At | Backtest | PlayGate | PlayStep


def week_script(runbook: Runbook, days: int | None = None) -> list[Act]:
    """Every act of the week up to day ``days`` (all days when None), in time order."""
    last = min(days or runbook.calendar.working_days, runbook.calendar.working_days)
    acts: list[Act] = [Start()]
    for day in runbook.days:
        if day.number > last:
            break
        acts.append(At(day.number, MORNING))
        gates = sorted((g for g in runbook.gates if g.day == day.number), key=lambda g: g.at)
        morning_gates = [g for g in gates if g.at <= MORNING.replace(hour=12)]
        for gate in morning_gates:
            acts += [*_backtest_for(gate), At(day.number, gate.at), PlayGate(gate.id)]
        for step in day.steps:
            if step.window is not None:
                acts.append(At(day.number, step.window.start))
            acts.append(PlayStep(step.id))
        for gate in gates:
            if gate not in morning_gates:
                acts += [*_backtest_for(gate), At(day.number, gate.at), PlayGate(gate.id)]
        acts.append(At(day.number, EVENING))
    return acts


def _backtest_for(gate: Gate) -> list[Act]:
    """A gate that checks "triggers backtested" gets its backtest first, before its time."""
    return [Backtest()] if backtest_check(gate) is not None else []


def extra_team(runbook: Runbook) -> tuple[TeamMember, ...]:
    """Who must join the demo team so that every production step has a runner and its approvers."""
    for step in runbook.steps():
        wanted = {rule.role for rule in step.approvals}
        if "production" in step.environments and set(RUNNERS) <= wanted:
            return (SECOND_SRE,)
    return ()


def team_for(runbook: Runbook) -> tuple[TeamMember, ...]:
    return (*DEMO_TEAM, *extra_team(runbook))


def member(role: str, *, not_ids: frozenset[str] = frozenset()) -> TeamMember | None:
    """The first sim team member with ``role`` other than those in ``not_ids``."""
    return next((m for m in SIM_TEAM if m.role == role and m.user_id not in not_ids), None)


def production_requester(step: Step) -> TeamMember:
    """Who asks to run in production: a runner whose role the approvals can do without, if any."""
    wanted = {rule.role for rule in step.approvals}
    runners = [m for m in SIM_TEAM if m.role in RUNNERS]
    free = [m for m in runners if m.role not in wanted]
    if free:
        return free[0]
    # every runner's role must also approve: pick one whose role has a second member to vote
    return next(m for m in runners if member(m.role, not_ids=frozenset({m.user_id})) is not None)


def approvers(step: Step, environment: str, requester: TeamMember, production: bool) -> list[TeamMember]:
    """One voter per approval the step asks for (any approver when it asks for none in production)."""
    chosen: list[TeamMember] = []
    taken = {requester.user_id} if production else set()
    rules = [(r.role, r.count) for r in step.approvals]
    if not rules and production:  # "any approver other than the requester": the manager first
        anyone = next(m for m in SIM_TEAM if m.role in APPROVING and m.user_id not in taken)
        return [anyone]
    for role, count in rules:
        for _ in range(count):
            person = member(role, not_ids=frozenset(taken))
            if person is None:
                break
            chosen.append(person)
            taken.add(person.user_id)
    return chosen
