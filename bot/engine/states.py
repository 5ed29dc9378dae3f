"""The step state machine: one declared transition table; moving a lane is the only way state changes.

Persistence is a compare-and-set on the lane's state, so two people moving the same lane at
once cannot both win; every successful move writes an audit entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from enum import StrEnum

from bot.engine.audit import Auditor
from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.ports import Actor, Clock
from bot.engine.records import Execution, StepLane, StepState
from bot.engine.store import LaneStore

S = StepState

TRANSITIONS: dict[StepState, frozenset[StepState]] = {
    S.PENDING: frozenset({S.READY, S.APPROVED, S.SKIPPED}),
    S.READY: frozenset({S.PENDING, S.APPROVED, S.SKIPPED}),
    S.APPROVED: frozenset({S.PENDING, S.READY, S.RUNNING, S.SKIPPED}),
    S.RUNNING: frozenset({S.VERIFYING, S.WAITING, S.FAILED, S.ROLLING_BACK}),
    S.WAITING: frozenset({S.RUNNING, S.FAILED, S.ROLLING_BACK}),
    S.VERIFYING: frozenset({S.DONE, S.FAILED, S.ROLLING_BACK}),
    S.DONE: frozenset({S.ROLLING_BACK}),
    S.FAILED: frozenset({S.READY, S.APPROVED, S.ROLLING_BACK, S.SKIPPED}),
    S.ROLLING_BACK: frozenset({S.ROLLED_BACK, S.FAILED}),
    S.ROLLED_BACK: frozenset({S.READY, S.APPROVED}),
    S.SKIPPED: frozenset(),
}

# States in which the step needs no more work in that environment.
FINISHED: frozenset[StepState] = frozenset({S.DONE, S.SKIPPED})
# States from which a new execution may be claimed.
RUNNABLE: frozenset[StepState] = frozenset({S.APPROVED})
# States whose applied changes can be rolled back: a running or verifying lane too (the rollback
# takes it over from its executor, which stops; rollback.py).
REVERTIBLE: frozenset[StepState] = frozenset({S.RUNNING, S.WAITING, S.VERIFYING, S.DONE, S.FAILED})
# States in which a step is under way in that environment (the run cannot be finished meanwhile).
IN_PROGRESS: frozenset[StepState] = frozenset({S.RUNNING, S.WAITING, S.VERIFYING, S.ROLLING_BACK})


class Move(StrEnum):
    """What a person can ask of one lane; ``allowed_moves`` says in which states the engine takes it."""

    APPROVE = "approve"
    REJECT = "reject"
    RUN = "run"
    DONE = "done"
    ROLLBACK = "rollback"
    SKIP = "skip"


def allowed_moves(state: StepState) -> tuple[Move, ...]:
    """The moves the engine accepts for a lane in ``state``, read off the table above (never listed
    again elsewhere): approve leads to approved, reject withdraws what is or could become approved,
    run asks for an approved lane, done resumes a waiting one, rollback takes a revertible one.
    Ticks and waivers are the step's checklist, not a lane's move."""
    reachable = TRANSITIONS[state]
    found: list[Move] = []
    if S.APPROVED in reachable:  # on an approved lane another vote would change nothing
        found.append(Move.APPROVE)
    if S.APPROVED in reachable or state in RUNNABLE:
        found += [Move.REJECT, Move.RUN]
    if S.RUNNING in reachable and state not in RUNNABLE:  # back to running, not a fresh run: a wait ends
        found.append(Move.DONE)
    if state in REVERTIBLE:
        found.append(Move.ROLLBACK)
    if S.SKIPPED in reachable:
        found.append(Move.SKIP)
    return tuple(found)


def lane_name(lane: StepLane) -> str:
    return f"{lane.step_id} ({lane.environment})"


def why_not(lane: StepLane, to: StepState, show_time: Callable[[datetime], str]) -> str:
    """A sentence explaining why ``lane`` cannot move to ``to`` and what to do instead."""
    name = lane_name(lane)
    since = f" since {show_time(lane.changed_at)}" if lane.changed_at else ""
    state = lane.state
    if state is S.RUNNING or state is S.VERIFYING:
        verb = "running" if state is S.RUNNING else "verifying"
        return (
            f"{name} has been {verb}{since}; wait for it to finish, or roll it back now "
            f"(/ion rollback {lane.step_id}@{lane.environment}). Nothing was changed."
        )
    if state is S.WAITING:
        waits = f": {lane.reason}" if lane.reason else ""
        return (
            f"{name} has been waiting{since}{waits}. Press Done when the work is done, or roll it back "
            f"(/ion rollback {lane.step_id}@{lane.environment}). Nothing was changed."
        )
    if state is S.ROLLING_BACK:
        return f"{name} is being rolled back{since}; wait for it to finish. Nothing was changed."
    if state is S.DONE:
        return f"{name} is already done{since}; roll it back first if you want to run it again. Nothing was changed."
    if state is S.SKIPPED:
        reason = f" ({lane.reason})" if lane.reason else ""
        return f"{name} was skipped{reason}; there is nothing more to do for it. Nothing was changed."
    if state is S.ROLLED_BACK and to is S.ROLLING_BACK:
        return f"{name} was already rolled back{since}; nothing was changed."
    return f"{name} is {state.value}{since} and cannot become {to.value}. Nothing was changed."


class Lanes:
    """Reads lanes (creating them pending on first sight) and moves them along the table."""

    def __init__(self, store: LaneStore, auditor: Auditor, clock: Clock, show_time: Callable[[datetime], str]) -> None:
        self._store = store
        self._auditor = auditor
        self._clock = clock
        self._show_time = show_time

    async def get(self, run_id: str, step_id: str, environment: str) -> StepLane:
        lane = await self._store.get_lane(run_id, step_id, environment)
        if lane is not None:
            return lane
        fresh = StepLane(run_id=run_id, step_id=step_id, environment=environment)
        await self._store.put_lane(fresh, None)
        stored = await self._store.get_lane(run_id, step_id, environment)
        return stored if stored is not None else fresh

    def explain(self, lane: StepLane, to: StepState) -> str:
        return why_not(lane, to, self._show_time)

    async def transition(
        self, lane: StepLane, to: StepState, actor: Actor, reason: str | None = None, **changes: object
    ) -> StepLane:
        """Move ``lane`` to ``to`` or raise Refused; ``changes`` sets other lane fields too."""
        if to not in TRANSITIONS[lane.state]:
            raise Refused(self.explain(lane, to))
        moved = replace(
            lane,
            state=to,
            reason=reason,
            changed_at=self._clock.now(),
            changed_by=actor.user_id,
            **changes,  # type: ignore[arg-type]
        )
        entry = self._auditor.entry(
            actor,
            AuditKind.STEP_STATE,
            run_id=lane.run_id,
            step_id=lane.step_id,
            environment=lane.environment,
            before=lane.state.value,
            after=to.value,
            detail=reason,
        )
        if not await self._store.put_lane(moved, lane.state, audit=entry):
            current = await self.get(lane.run_id, lane.step_id, lane.environment)
            raise Refused(
                f"{lane_name(lane)} changed while you were looking (it is {current.state.value} now); "
                "look at it again. Nothing was changed."
            )
        return moved

    async def claim(
        self, lane: StepLane, execution: Execution, to: StepState, actor: Actor, detail: str
    ) -> StepLane | None:
        """Move ``lane`` to ``to`` (running, rolling_back) starting ``execution``: the lane, the execution
        and the move's audit entry (with the state it really left) are written in one transaction.

        Refused when the table does not allow the move; None when the lane left ``lane.state``
        meanwhile (another click, a retry, a replica won): then nothing at all was written.
        """
        if to not in TRANSITIONS[lane.state]:
            raise Refused(self.explain(lane, to))
        moved = replace(
            lane,
            state=to,
            last_execution_id=execution.id,
            changed_at=execution.started_at,
            changed_by=execution.requested_by,
        )
        entry = self._auditor.entry(
            actor,
            AuditKind.STEP_STATE,
            run_id=lane.run_id,
            step_id=lane.step_id,
            environment=lane.environment,
            before=lane.state.value,
            after=to.value,
            detail=detail,
        )
        return moved if await self._store.claim_lane(moved, lane.state, execution, entry) else None
