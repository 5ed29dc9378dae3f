"""Manual work: a lane waits at a ``manual`` action until the named person presses Done.

The evidence (who, when, the value entered, whether the action's ``accept`` held) is kept in the
action's target record of the lane's execution, every entry, failing ones too. While it waits the
lane is ``waiting`` and its execution ``waiting``: nothing runs and no lease is held, so a restart
keeps the wait as it is; a passing Done claims the lane back (compare-and-set) and the executor
resumes after the action. A Done for an action already done records nothing again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from bot.engine.audit_kinds import AuditKind
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.evidence import Entry, example, judge, read
from bot.engine.plan import BoundAction
from bot.engine.ports import Actor
from bot.engine.records import Execution, ExecutionState, Run, StepLane, StepState, TargetRecord, TargetStatus
from bot.engine.states import lane_name
from bot.engine.targets import settle, write_ahead
from bot.runbook.models import Manual, Runbook, Step
from bot.runbook.suggest import did_you_mean


@dataclass(frozen=True)
class ManualItem:
    """A manual action of a step: its place in ``step.actions``, its number (1..n) and id for /ion done."""

    step: Step
    index: int
    number: int
    spec: Manual

    @property
    def ref(self) -> str:
        return self.spec.id or str(self.number)

    @property
    def title(self) -> str:
        return self.spec.title or self.spec.instruction

    def runs_in(self, environment: str) -> bool:
        return self.spec.environments is None or environment in self.spec.environments

    @property
    def asks_evidence(self) -> bool:
        return self.spec.value is not None

    def usage(self) -> str:
        value = f" {example(self.spec.value)}" if self.spec.value is not None else ""
        return f"/ion done {self.step.id} {self.ref}{value}"


@dataclass(frozen=True)
class DoneOutcome:
    """What a Done did: ``resume`` is the lane and execution to carry on with (a passing value)."""

    message: str
    recorded: Entry | None
    resume: tuple[StepLane, Execution] | None = None
    task: asyncio.Task[Any] | None = None  # the resumed execution (await it for its result)


class AwaitingPerson(Exception):
    """Internal: the executor reached a manual action nobody has done yet in this execution."""

    def __init__(self, item: ManualItem, message: str) -> None:
        super().__init__(message)
        self.item = item
        self.message = message


def items(step: Step) -> list[ManualItem]:
    return [ManualItem(step, index, n, spec) for n, (index, spec) in enumerate(step.manual_actions(), start=1)]


def find(step: Step, ref: str) -> ManualItem:
    found = items(step)
    match = next((i for i in found if ref in (i.spec.id, str(i.number))), None)
    if match is not None:
        return match
    if not found:
        raise Refused(f"{step.id} has no manual action, so there is nothing to mark done. Nothing was recorded.")
    valid = ", ".join(f"{i.number} ({i.spec.id})" if i.spec.id else str(i.number) for i in found)
    hint = did_you_mean(ref, [i.spec.id for i in found if i.spec.id])
    raise Refused(f"{step.id} has no manual action {ref}{hint}; its manual actions are {valid}. Nothing was recorded.")


def for_whom(runbook: Runbook, spec: Manual) -> str:
    if spec.by is None:
        return "anyone on the team"
    role = next((r for r in runbook.roles if r.id == spec.by), None)
    return f"the {role.title} ({spec.by})" if role else f"a {spec.by}"


def entries(record: TargetRecord | None) -> list[Entry]:
    snapshot = record.snapshot if record is not None and isinstance(record.snapshot, dict) else {}
    return [Entry.from_json(e) for e in snapshot.get("entries", [])]


def passed(record: TargetRecord | None) -> Entry | None:
    return next((e for e in reversed(entries(record)) if e.passed), None)


def asks(item: ManualItem) -> str | None:
    """``cache_hit_pct in % (cache_hit_pct > 65)``: the value the action asks for, if any."""
    if item.spec.value is None:
        return None
    rule = f" ({item.spec.accept.text or item.spec.accept})" if item.spec.accept is not None else ""
    unit = "a link" if item.spec.value.unit == "link" else item.spec.value.unit
    return f"{item.spec.value.name} in {unit}{rule}" if unit != "a link" else f"{item.spec.value.name}, a link"


def waiting_text(ctx: Context, item: ManualItem) -> str:
    value = asks(item)
    wanted = f" with {value}" if value else ""
    return f"waiting for {for_whom(ctx.runbook, item.spec)} to press Done on '{item.title}'{wanted}: {item.usage()}"


def _record_of(records: list[TargetRecord], index: int) -> TargetRecord | None:
    return next((r for r in records if r.action_index == index), None)


async def settle_or_wait(
    ctx: Context, step: Step, execution: Execution, bound: BoundAction, records: list[TargetRecord]
) -> str:
    """Pass the action (returns the progress line) when this execution holds a passing Done for it;
    otherwise raise AwaitingPerson."""
    item = next(i for i in items(step) if i.index == bound.index)
    target = bound.action.targets()[0]
    record = _record_of(records, bound.index)
    if record is None:
        record = await write_ahead(ctx, execution, len(records), bound, target, {"entries": []})
        records.append(record)
    at = records.index(record)
    if execution.dry_run:
        line = f"dry run: would be {waiting_text(ctx, item)}"
        records[at] = await settle(ctx, record, TargetStatus.SKIPPED, line)
        return line
    done = passed(record)
    if done is None:
        raise AwaitingPerson(item, f"{lane_label(execution)} is {waiting_text(ctx, item)}")
    value = f" ({done.text}, {done.detail})" if done.text else ""
    message = f"'{item.title}' done by {done.name} at {ctx.show_time(done.at)}{value}"
    records[at] = await settle(ctx, record, TargetStatus.UNCHANGED, message)
    return message


def lane_label(execution: Execution) -> str:
    return f"{execution.step_id} ({execution.environment})"


async def record_done(
    ctx: Context, run: Run, step: Step, item: ManualItem, text: str | None, actor: Actor
) -> DoneOutcome:
    """Record ``actor``'s Done (and value) on the lane waiting at ``item``; claim it back when it passes."""
    lane, execution, record = await _waiting_lane(ctx, run, step, item)
    if lane is None or execution is None or record is None:
        return await _not_waiting(ctx, run, step, item)
    _check_person(ctx, item, actor)
    number: float | None = None
    shown = ""
    if item.spec.value is not None:
        if not text or not text.strip():
            raise Refused(
                f"'{item.title}' asks for {item.spec.value.name} in {item.spec.value.unit}: "
                f"{item.usage()}. Nothing was recorded."
            )
        shown, number = read(item.spec.value, text, item.usage())
    ok, detail = judge(item.spec, number)
    entry = Entry(actor.user_id, actor.name, ctx.clock.now(), shown, number, ok, detail)
    earlier = entries(record)
    if not ok and earlier and (earlier[-1].user_id, earlier[-1].text) == (entry.user_id, entry.text):
        return DoneOutcome(_failing(lane, item, earlier[-1], ctx), None)  # the same value again: once is enough
    async with ctx.unit_of_work():  # the claim back, the entry and its audit entry, or none of them
        if ok:
            lane, execution = await _claim(ctx, lane, execution, item, actor)
        snapshot = {"entries": [e.to_json() for e in [*earlier, entry]]}
        await ctx.store.save_target(replace(record, snapshot=snapshot, at=ctx.clock.now()))
        await ctx.auditor.record(
            actor,
            AuditKind.MANUAL_DONE if ok else AuditKind.MANUAL_VALUE_REFUSED,
            run_id=run.id,
            step_id=step.id,
            environment=lane.environment,
            after=shown or "done",
            outcome="ok" if ok else "refused",
            detail=f"{item.title}: {detail}",
        )
        if not ok:
            message = _failing(lane, item, entry, ctx)
            await ctx.emit(run, "step_changed", message, step.id)
            return DoneOutcome(message, entry)
        value = f" {shown} ({detail})" if shown else ""
        message = f"{lane_name(lane)}: '{item.title}' done by {actor.name}{value}; carrying on."
        await ctx.emit(run, "step_changed", message, step.id)
        return DoneOutcome(message, entry, (lane, execution))


def _failing(lane: StepLane, item: ManualItem, entry: Entry, ctx: Context) -> str:
    return (
        f"{lane_name(lane)}: {entry.name} entered {entry.text} for '{item.title}' at {ctx.show_time(entry.at)}, "
        f"and {entry.detail}, so the lane does not proceed. Enter a passing value: {item.usage()}."
    )


def _check_person(ctx: Context, item: ManualItem, actor: Actor) -> None:
    role = item.spec.by
    if role is not None and not actor.has(role):
        raise Refused(
            f"'{item.title}' is for {for_whom(ctx.runbook, item.spec)}; {actor.name} is not one. "
            "Ask them to press Done. Nothing was recorded."
        )
    if role is None:
        sentence = ctx.policy.check(actor, "tick")
        if sentence is not None:
            raise Refused(sentence)


async def _claim(
    ctx: Context, lane: StepLane, execution: Execution, item: ManualItem, actor: Actor
) -> tuple[StepLane, Execution]:
    """The execution waiting at this very action -> running (this process its owner), then the lane.

    The execution's claim names the wait (its message), so of two deliveries of one Done exactly one
    resumes, and a late one never resumes the lane's next wait. A rollback that claimed the lane
    first has ended the wait, so the claim fails; one that claims it after finds the execution running.
    """
    now = ctx.clock.now()
    if not await ctx.store.resume_execution(execution.id, ctx.owner, now, execution.message):
        raise Refused(
            f"{lane_name(lane)} stopped waiting for '{item.title}' meanwhile (done by someone else, or rolled "
            "back); nothing was recorded. Look at the card again."
        )
    moved = await ctx.lanes.transition(lane, StepState.RUNNING, actor, f"'{item.title}' done by {actor.name}")
    return moved, replace(execution, state=ExecutionState.RUNNING, owner=ctx.owner, heartbeat_at=now)


async def _waiting_lane(
    ctx: Context, run: Run, step: Step, item: ManualItem
) -> tuple[StepLane | None, Execution | None, TargetRecord | None]:
    for env in step.environments:
        if not item.runs_in(env):
            continue
        lane = await ctx.store.get_lane(run.id, step.id, env)
        if lane is None or lane.state is not StepState.WAITING or lane.last_execution_id is None:
            continue
        execution = await ctx.store.get_execution(lane.last_execution_id)
        if execution is None or execution.state is not ExecutionState.WAITING:
            continue
        record = _record_of(await ctx.store.targets(execution.id), item.index)
        if record is not None and record.status is TargetStatus.SNAPSHOTTED:
            return lane, execution, record
    return None, None, None


async def _not_waiting(ctx: Context, run: Run, step: Step, item: ManualItem) -> DoneOutcome:
    """Already done (a redelivered click): say so and record nothing. Otherwise refuse in a sentence."""
    states: list[str] = []
    for env in step.environments:
        if not item.runs_in(env):
            continue
        lane = await ctx.store.get_lane(run.id, step.id, env)
        execution = await ctx.store.get_execution(lane.last_execution_id) if lane and lane.last_execution_id else None
        record = _record_of(await ctx.store.targets(execution.id), item.index) if execution else None
        done = passed(record)
        if done is not None and lane is not None:
            value = f" ({done.text})" if done.text else ""
            return DoneOutcome(
                f"'{item.title}' on {lane_name(lane)} was already recorded as done by {done.name} at "
                f"{ctx.show_time(done.at)}{value}; nothing was recorded again.",
                None,
            )
        resuming = execution is not None and execution.state is ExecutionState.RUNNING and record is not None
        if lane is not None and resuming and lane.state in (StepState.WAITING, StepState.RUNNING):
            raise Refused(
                f"{lane_name(lane)} is no longer waiting for '{item.title}': a Done for it is being "
                "recorded right now. Nothing was recorded again; look at the card in a moment."
            )
        states.append(f"{env} is {lane.state.value if lane else 'pending'}")
    where = "; ".join(states) or "it runs nowhere"
    raise Refused(
        f"Nobody is waited for on '{item.title}' of {step.id} yet ({where}): the run asks for Done when it "
        "reaches that action. Nothing was recorded."
    )


async def evidence_problem(ctx: Context, run: Run, step: Step, environment: str) -> str | None:
    """Why ``environment``'s evidence is not in place: a value asked for that is missing or failing."""
    lane = await ctx.store.get_lane(run.id, step.id, environment)
    execution = await ctx.store.get_execution(lane.last_execution_id) if lane and lane.last_execution_id else None
    records = await ctx.store.targets(execution.id) if execution and execution.kind == "apply" else []
    for item in items(step):
        if not item.asks_evidence or not item.runs_in(environment):
            continue
        known = entries(_record_of(records, item.index))
        if not known:
            return (
                f"its {environment} evidence for '{item.title}' is missing ({waiting_text(ctx, item)}, once the "
                f"{environment} run reaches it)"
            )
        if not known[-1].passed and passed(_record_of(records, item.index)) is None:
            last = known[-1]
            return (
                f"its {environment} evidence for '{item.title}' fails: {last.name} entered {last.text} at "
                f"{ctx.show_time(last.at)} and {last.detail}; enter a passing value with {item.usage()}"
            )
    return None
