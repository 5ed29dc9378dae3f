"""What the chat layer renders: typed read models of a run, a step and its lanes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.engine.calendar import Position
from bot.engine.checklist import ChecklistStatus, Due
from bot.engine.records import Approval, Execution, Run, StepLane, StepState, TargetRecord
from bot.engine.states import Move, allowed_moves
from bot.runbook.models import Gate, Step

# What a lane in each state offers: derived from the transition table (states.allowed_moves), so the
# cards' buttons and the engine's refusals cannot disagree.
NEXT_MOVES: dict[StepState, tuple[Move, ...]] = {state: allowed_moves(state) for state in StepState}


@dataclass(frozen=True)
class LaneView:
    lane: StepLane
    approvals: list[Approval]
    last_execution: Execution | None
    targets: list[TargetRecord]
    production: bool

    @property
    def next_moves(self) -> tuple[Move, ...]:
        return NEXT_MOVES[self.lane.state]


@dataclass(frozen=True)
class StepView:
    run: Run
    step: Step
    window: tuple[datetime, datetime] | None
    lanes: list[LaneView]
    checklist: ChecklistStatus
    due: list[Due] = field(default_factory=list)  # per list of step.checklist_groups(), in order
    read_at: datetime | None = None  # when the view was read (whether a list is due yet)


@dataclass(frozen=True)
class StepSummary:
    step_id: str
    title: str
    day: int
    states: dict[str, StepState]
    window: tuple[datetime, datetime] | None = None


@dataclass(frozen=True)
class StatusView:
    run: Run
    position: Position
    steps: list[StepSummary]
    gates: dict[str, str | None] = field(default_factory=dict)
    overdue_gates: list[tuple[Gate, datetime]] = field(default_factory=list)  # past their time, undecided
