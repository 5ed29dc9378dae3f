"""Did the week happen? Checked at the end from the store, the sim world and the fake API's record.

Each problem is one sentence naming what the runbook asked for and did not get; an empty list
means the simulation did everything: every step, gate, report, digest and reminder. Reports are
read back from what each job actually posted (``Session.job_log``), not from the scheduler's word.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.bootstrap_console import ConsoleSession
from bot.cloud.ports import ServiceConfig
from bot.engine.audit_kinds import AuditKind
from bot.engine.records import StepLane, StepState
from bot.engine.report_data import week_label
from bot.simulate.runner import Played, production_of

COMPARED = ("min_instances", "max_instances", "env", "image", "traffic")


@dataclass(frozen=True)
class Expectations:
    days: int
    fault_steps: tuple[str, ...] = ()  # steps a fault is written against ("after day2.1"): rolled back
    faulted: bool = False  # any fault at all: a step a trigger rolled back is what the fault asked for


def fault_steps(faults: tuple[str, ...]) -> tuple[str, ...]:
    from bot.sim.faults import parse_fault

    return tuple(f.after_step for f in map(parse_fault, faults) if f.after_step)


async def problems(session: ConsoleSession, played: Played, expect: Expectations) -> list[str]:
    bot = session.bot
    found: list[str] = list(played.problems)
    run = await bot.store.open_run(session.channel)
    if run is None:
        return [*found, "no run was started in the channel, so nothing else could happen"]
    lanes = {(lane.step_id, lane.environment): lane for lane in await bot.store.lanes(run.id)}
    rolled_back = _rolled_back_in_production(session, lanes.values()) if expect.faulted else set()
    roots = (*expect.fault_steps, *sorted(rolled_back - set(expect.fault_steps)))
    blocked = _depending_on(session, roots)
    stopped_after, gate_problems = await _gate_problems(session, run.id, expect, roots)
    found += gate_problems + await _override_problems(session, run.id)
    for step in bot.runbook.steps():
        if step.day > min(expect.days, stopped_after) or step.id in blocked:
            continue
        for env in step.environments:
            lane = lanes.get((step.id, env))
            state = lane.state if lane else StepState.PENDING
            production = bot.rollout.is_production(env)
            if step.id in roots and production:
                if state is not StepState.ROLLED_BACK:
                    found.append(f"{step.id} on {env} should have been rolled back by the fault, but is {state.value}")
                continue
            if state is StepState.SKIPPED and lane is not None and lane.reason:
                continue
            if state is not StepState.DONE:
                found.append(f"{step.id} on {env} is {state.value}, not done (or skipped with a reason)")
    if expect.faulted or expect.fault_steps:
        found += _fault_problems(session, played, roots)
    found += _report_problems(session, expect)
    return found


async def _gate_problems(
    session: ConsoleSession, run_id: str, expect: Expectations, roots: tuple[str, ...]
) -> tuple[int, list[str]]:
    """Every gate up to the last day is YES, except that a rollback in a gate's phase makes it red, and
    the team must then decide NO (and stop there). Returns the last day played and the problems."""
    bot = session.bot
    found: list[str] = []
    for gate in sorted(bot.runbook.gates, key=lambda g: (g.day, g.at)):
        if gate.day > expect.days:
            break
        record = await bot.store.get_gate(run_id, gate.id)
        decided = record.decision if record and record.decision else "undecided"
        phase = next((p for p in bot.runbook.phases if p.first_day <= gate.day <= p.last_day), None)
        first = phase.first_day if phase else 1
        hit = [s for s in roots if (step := bot.runbook.step(s)) is not None and first <= step.day <= gate.day]
        if hit and gate.id != "preflight":
            red = record is not None and any(h.passed is False for h in record.health)
            if decided != "no" or not red:
                found.append(
                    f"the gate {gate.id} is {decided} with {'red' if red else 'green'} checks although "
                    f"{', '.join(hit)} was rolled back in its phase; it should be red and decided NO"
                )
            return gate.day, found
        if decided != "yes":
            found.append(f"the gate {gate.id} is {decided}, not decided YES")
    return expect.days, found


async def _override_problems(session: ConsoleSession, run_id: str) -> list[str]:
    """Every health check let pass has its audit entry, by the same person with the same reason."""
    bot = session.bot
    found: list[str] = []
    entries = await bot.store.audit_history(run_id, kinds=(AuditKind.GATE_CHECK_OVERRIDDEN,))
    audited = {(e.step_id, e.after, e.actor_name, e.detail) for e in entries}
    for gate in bot.runbook.gates:
        record = await bot.store.get_gate(run_id, gate.id)
        for h in record.health if record else []:
            if h.override_reason and (gate.id, h.label, h.override_by, h.override_reason) not in audited:
                found.append(f"the override of '{h.label}' at {gate.id} by {h.override_by} is not in the audit log")
    return found


def _rolled_back_in_production(session: ConsoleSession, lanes: Iterable[StepLane]) -> set[str]:
    """Steps whose production lane a rollback (the bot's, or on-call's answer to an alert) undid:
    with a fault from a time ("from day2 14:00"), which step it hits is for the triggers to find."""
    is_production = session.bot.rollout.is_production
    return {lane.step_id for lane in lanes if is_production(lane.environment) and lane.state is StepState.ROLLED_BACK}


def _depending_on(session: ConsoleSession, roots: tuple[str, ...]) -> set[str]:
    """Steps that wait (directly or not) on a step the fault rolls back: they cannot run after it."""
    blocked: set[str] = set()
    changed = True
    while changed:
        changed = False
        for step in session.bot.runbook.steps():
            if step.id not in blocked and any(d in roots or d in blocked for d in step.depends_on):
                blocked.add(step.id)
                changed = True
    return blocked


def _fault_problems(session: ConsoleSession, played: Played, rolled_back: tuple[str, ...]) -> list[str]:
    found: list[str] = []
    if not any(e.kind == "alert_opened" for e in session.events):
        found.append("no alert was raised although a fault was injected")
    sim = session.bot.sim
    production = production_of(session.bot.runbook)
    for key, before in played.before_production.items():
        step_id, service, region = key.split(":")
        if step_id not in rolled_back or sim is None or production is None:
            continue
        # As the rollback left it: later steps (day 3 on) may change the same service on purpose.
        now = played.after_rollback.get(key) or sim.world.get_service(production.project, region, service)
        if isinstance(before, ServiceConfig) and any(getattr(now, f) != getattr(before, f) for f in COMPARED):
            found.append(f"{service} in {region} was not restored to its config from before {step_id}")
    return found


def _posted(session: ConsoleSession) -> dict[tuple[str, str | None, int | None], list[str]]:
    """(job kind, standup or gate name, run day) -> the text of every message that job run posted."""
    posted: dict[tuple[str, str | None, int | None], list[str]] = {}
    for fired, entries in session.job_log:
        shown = [e for e in entries if e.visible and e.method == "chat.postMessage"]
        if fired.result.posted and shown:
            key = (fired.due.job.kind, fired.due.job.name, fired.result.day)
            posted.setdefault(key, []).extend(_text(e.payload) for e in shown)
    return posted


def _text(payload: dict[str, Any]) -> str:
    """A message's text: the fallback and every section, as the reader sees them."""
    parts = [str(payload.get("text") or "")]
    for block in payload.get("blocks") or []:
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict):
            parts.append(str(text.get("text") or ""))
    return "\n".join(parts)


def _report_problems(session: ConsoleSession, expect: Expectations) -> list[str]:
    runbook = session.bot.runbook
    schedule = runbook.schedule
    posted = _posted(session)
    found: list[str] = []
    for day in range(1, expect.days + 1):
        if ("daily_report", None, day) not in posted:
            found.append(f"no daily report was posted for day {day}")
        for standup in schedule.standups:
            if ("standup", standup.name, day) not in posted:
                found.append(f"no {standup.name} standup digest was posted on day {day}")
    for gate in runbook.gates:
        if gate.day <= expect.days and not any(k[:2] == ("gate_reminder", gate.id) for k in posted):
            found.append(f"no reminder was posted for the decision point {gate.id} on day {gate.day}")
    summary = schedule.summary_day
    if summary is not None and summary <= expect.days and ("phase_summary", None, summary) not in posted:
        found.append(f"the Day {summary} phase summary was not posted")
    final = schedule.final_report_day
    if final is not None and final <= expect.days and not _final_report_posted(session):
        found.append(f"the final report was not posted on day {final}")
    for step_id in expect.fault_steps:
        step = runbook.step(step_id)
        if step is None or step.day > expect.days:
            continue
        reports = posted.get(("daily_report", None, step.day), [])
        if not any(_says_rolled_back(text, step_id) for text in reports):
            found.append(f"the Day {step.day} report does not say under Issues/Blockers that {step_id} was rolled back")
    return found


def _final_report_posted(session: ConsoleSession) -> bool:
    """The final report itself (not the note that it waits for the decision), from the job or the decision."""
    title = f"{week_label(session.bot.runbook)} Final Report"
    return any(call.method == "chat.postMessage" and title in _text(call.payload) for call in session.api.recorded)


def _says_rolled_back(report: str, step_id: str) -> bool:
    """The report's Issues/Blockers section has a line naming the step as rolled back."""
    _, found, rest = report.partition("Issues/Blockers:")
    if not found:
        return False
    section = rest.split("Next Day Plan:")[0]
    return any(step_id in line and "rolled back" in line for line in section.splitlines())
