"""A run's recorded past, read from the audit log by kind, step and environment.

Every lane move is audited with its time and actor (a ``step state`` entry of one step in one
environment), every tick and untick, every gate decision and reopening; the lanes' current state
stands in for a lane the log has no move of. A past day's report asked for later reads how things
stood at that day's report time from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.engine.audit_kinds import AuditKind
from bot.engine.cost_ledger import LaneEvent
from bot.engine.ports import BOT_ACTOR
from bot.engine.records import AuditEntry, ChecklistTick, Run, StepState
from bot.engine.store import RolloutStore

# The entries History replays besides the lane moves: checklist ticks and gate decisions.
TICKS = frozenset({AuditKind.TICK, AuditKind.UNTICK})
GATE_DECISIONS = frozenset({AuditKind.GATE_DECIDED, AuditKind.GATE_REOPENED})


@dataclass(frozen=True)
class LaneMove:
    """One audited lane move: a LaneEvent plus who made it."""

    step_id: str
    environment: str
    state: str
    at: datetime
    actor_id: str
    actor_name: str
    audited: bool = True  # False: the lane's current state, standing in for a history the audit log lacks

    def event(self) -> LaneEvent:
        return LaneEvent(self.step_id, self.environment, self.state, self.at)


@dataclass(frozen=True)
class History:
    """The run's recorded past, to tell how things stood at ``at`` rather than now.

    ``audit`` holds the run's successful tick, untick and gate decision entries, oldest first
    (other entries in it are ignored)."""

    at: datetime
    moves: Sequence[LaneMove]
    audit: Sequence[AuditEntry]

    def lanes(self) -> dict[tuple[str, str], LaneMove]:
        """Each lane's latest move at or before ``at``; a lane that had not moved yet is absent (pending)."""
        latest: dict[tuple[str, str], LaneMove] = {}
        for move in self.moves:
            if move.at <= self.at:
                latest[(move.step_id, move.environment)] = move
        return latest

    def requesters(self) -> dict[tuple[str, str], str]:
        """Who had asked for each lane by ``at``: the actor of its latest move to ready."""
        found: dict[tuple[str, str], str] = {}
        for move in self.moves:
            if move.at <= self.at and move.state == StepState.READY.value:
                found[(move.step_id, move.environment)] = move.actor_id
        return found

    def ticked(self, scope: str, ticks: Sequence[ChecklistTick]) -> dict[str, str]:
        """item id -> who ticked it, as of ``at``: the audited ticks and unticks replayed; an item the
        audit log never mentions falls back to its stored tick (a tick removed since leaves no trace)."""
        ticked: dict[str, str] = {}
        mentioned: set[str] = set()
        for entry in self._entries(TICKS, scope):
            item = entry.after if entry.kind is AuditKind.TICK else entry.before
            if not item:
                continue
            mentioned.add(item)
            if entry.at > self.at:
                continue
            if entry.kind is AuditKind.TICK:
                ticked[item] = entry.actor_name
            else:
                ticked.pop(item, None)
        for tick in ticks:
            if tick.item_id not in mentioned and tick.at <= self.at:
                ticked[tick.item_id] = tick.name
        return ticked

    def decision(self, gate_id: str) -> tuple[AuditEntry | None, bool]:
        """The gate's latest audited decision at ``at`` (None when undecided or reopened by then), and
        whether the audit log records the gate's decisions at all."""
        entries = self._entries(GATE_DECISIONS, gate_id)
        latest = [entry for entry in entries if entry.at <= self.at]
        decided = latest[-1] if latest and latest[-1].kind is AuditKind.GATE_DECIDED else None
        return decided, bool(entries)

    def gaps(self) -> list[str]:
        """What the history cannot tell: lanes known only by a state reached after ``at``."""
        unknown = sorted({f"{m.step_id} ({m.environment})" for m in self.moves if not m.audited and m.at > self.at})
        if not unknown:
            return []
        return [
            f"{', '.join(unknown)} changed after then and the audit log has no earlier state, "
            "so they are left out of this report."
        ]

    def _entries(self, kinds: frozenset[AuditKind], step_id: str) -> list[AuditEntry]:
        """The successful entries of ``kinds`` about ``step_id`` (a step or gate), oldest first."""
        return [e for e in self.audit if e.kind in kinds and e.step_id == step_id and e.outcome == "ok"]


class HistoryReader:
    """Asks the audit log for a run's lane moves, replayable entries and the names of its people."""

    def __init__(self, store: RolloutStore) -> None:
        self.store = store

    async def history(self, run: Run, at: datetime, moves: Sequence[LaneMove] | None = None) -> History:
        """The run's lane moves and replayable audit entries, to read how things stood at ``at``."""
        found = moves if moves is not None else await self.lane_moves(run)
        replayed = await self.store.audit_history(run.id, kinds=TICKS | GATE_DECISIONS, outcome="ok")
        return History(at, found, replayed)

    async def names(self, run_id: str) -> dict[str, str]:
        """user id -> display name, from the audit log (the store keeps no user table)."""
        found = {BOT_ACTOR.user_id: BOT_ACTOR.name}
        for entry in await self.store.audit_history(run_id):
            found.setdefault(entry.actor_id, entry.actor_name)
        return found

    async def lane_moves(self, run: Run) -> list[LaneMove]:
        """Every lane move of the run, oldest first; lanes without audited moves use their current state."""
        moves: list[LaneMove] = []
        for entry in await self.store.audit_history(run.id, kinds=(AuditKind.STEP_STATE,), outcome="ok"):
            if entry.step_id and entry.environment and entry.after:
                moves.append(
                    LaneMove(entry.step_id, entry.environment, entry.after, entry.at, entry.actor_id, entry.actor_name)
                )
        seen = {(m.step_id, m.environment) for m in moves}
        for lane in await self.store.lanes(run.id):
            if (lane.step_id, lane.environment) not in seen and lane.changed_at is not None:
                who = lane.changed_by or BOT_ACTOR.user_id
                state, at = lane.state.value, lane.changed_at
                moves.append(LaneMove(lane.step_id, lane.environment, state, at, who, who, audited=False))
        moves.sort(key=lambda m: m.at)
        return moves
