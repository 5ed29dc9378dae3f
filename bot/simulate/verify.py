"""Did the week happen? Checked at the end from the store, the sim world and the fake API's record.

Each problem is one sentence naming what the runbook asked for and did not get; an empty list
means the simulation did everything. Report checks apply only when the report jobs are wired.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.cloud.ports import ServiceConfig
from bot.engine.records import StepState
from bot.simulate.runner import Played
from bot.slack.console_session import Session

COMPARED = ("min_instances", "max_instances", "env", "image", "traffic")


@dataclass(frozen=True)
class Expectations:
    days: int
    fault_steps: tuple[str, ...] = ()  # steps a fault is written against ("after day2.1"): rolled back
    reports_wired: bool = False


def fault_steps(faults: tuple[str, ...]) -> tuple[str, ...]:
    from bot.sim.faults import parse_fault

    return tuple(f.after_step for f in map(parse_fault, faults) if f.after_step)


async def problems(session: Session, played: Played, expect: Expectations) -> list[str]:
    bot = session.bot
    found: list[str] = list(played.problems)
    run = await bot.store.open_run(session.channel)
    if run is None:
        return [*found, "no run was started in the channel, so nothing else could happen"]
    lanes = {(lane.step_id, lane.environment): lane for lane in await bot.store.lanes(run.id)}
    blocked = _depending_on(session, expect.fault_steps)
    for step in bot.runbook.steps():
        if step.day > expect.days or step.id in blocked:
            continue
        for env in step.environments:
            lane = lanes.get((step.id, env))
            state = lane.state if lane else StepState.PENDING
            production = bot.rollout.ctx.is_production(env)
            if step.id in expect.fault_steps and production:
                if state is not StepState.ROLLED_BACK:
                    found.append(f"{step.id} on {env} should have been rolled back by the fault, but is {state.value}")
                continue
            if state is StepState.SKIPPED and lane is not None and lane.reason:
                continue
            if state is not StepState.DONE:
                found.append(f"{step.id} on {env} is {state.value}, not done (or skipped with a reason)")
    for gate in bot.runbook.gates:
        if gate.day <= expect.days:
            record = await bot.store.get_gate(run.id, gate.id)
            if record is None or record.decision != "yes":
                decided = record.decision if record and record.decision else "undecided"
                found.append(f"the gate {gate.id} is {decided}, not decided YES")
    if expect.fault_steps:
        found += _fault_problems(session, played, expect)
    if expect.reports_wired:
        found += _report_problems(session, expect)
    return found


def _depending_on(session: Session, roots: tuple[str, ...]) -> set[str]:
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


def _fault_problems(session: Session, played: Played, expect: Expectations) -> list[str]:
    found: list[str] = []
    if not any(e.kind == "alert_opened" for e in session.events):
        found.append("no alert was raised although a fault was injected")
    sim = session.bot.sim
    production = next((e for e in session.bot.runbook.environments if e.production), None)
    for key, before in played.before_production.items():
        step_id, service, region = key.split(":")
        if step_id not in expect.fault_steps or sim is None or production is None:
            continue
        now = sim.world.get_service(production.project, region, service)
        if isinstance(before, ServiceConfig) and any(getattr(now, f) != getattr(before, f) for f in COMPARED):
            found.append(f"{service} in {region} was not restored to its config from before {step_id}")
    return found


def _report_problems(session: Session, expect: Expectations) -> list[str]:
    posted: dict[str, set[int]] = {}
    for fired, entries in session.job_log:
        if fired.result.posted and entries:
            posted.setdefault(fired.due.job.kind, set()).add(fired.result.day or 0)
    found: list[str] = []
    for day in range(1, expect.days + 1):
        if day not in posted.get("daily_report", set()):
            found.append(f"no daily report was posted for day {day}")
        if day not in posted.get("standup", set()):
            found.append(f"no standup digest was posted on day {day}")
    final = session.bot.runbook.schedule.final_report_day
    if final is not None and final <= expect.days and not posted.get("final_report"):
        found.append("the final report was not posted")
    return found
