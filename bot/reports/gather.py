"""Reads the store, the metrics and the runbook into the small input records of the report builders.

The builders in bot/engine/report_data.py are pure; this package is the one place that knows where
each fact lives, one module per report section: the run's recorded past (history.py: lane moves
from the audit log, asked for by kind, step and environment), the blockers (gather_blockers.py),
the metrics (gather_metrics.py), the cost ledger (gather_cost.py), the gate decisions and quality
targets (gather_verdicts.py); this module puts them together and finds the finished steps.

A past day's report asked for later is rebuilt as it stood at that day's report time (a ``History``):
lane states, votes, ticks, waivers, gate decisions and alerts from their timestamps and the audit log,
and a line in ``ReportInputs.notes`` for what the store's history cannot tell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.engine.calendar import RunCalendar
from bot.engine.cost_ledger import CostLedger
from bot.engine.cost_recording import bills_key
from bot.engine.ports import BOT_ACTOR
from bot.engine.records import Run, StepState
from bot.engine.report_model import (
    GateDecision,
    MetricReading,
    OpenAlert,
    PendingApproval,
    QualityReading,
    StepOutcome,
    UntickedItem,
)
from bot.reports.charts import ChartSeries
from bot.reports.gather_blockers import BlockersGatherer, alert_state_at
from bot.reports.gather_cost import CostGatherer
from bot.reports.gather_metrics import READING_WINDOW, MetricsGatherer, aggregate, day_span, production_environment
from bot.reports.gather_verdicts import VerdictsGatherer
from bot.reports.history import History, HistoryReader, LaneMove
from bot.runbook.models import Runbook

if TYPE_CHECKING:
    from bot.bootstrap import Bot

__all__ = [
    "READING_WINDOW",
    "History",
    "LaneMove",
    "ReportGatherer",
    "ReportInputs",
    "aggregate",
    "alert_state_at",
    "bills_key",
    "production_environment",
]

FINISHED_STATES = frozenset({StepState.DONE, StepState.FAILED, StepState.ROLLED_BACK, StepState.SKIPPED})


@dataclass(frozen=True)
class ReportInputs:
    """Everything a daily, standup, summary or final report is built from."""

    outcomes: tuple[StepOutcome, ...]
    metrics: tuple[MetricReading, ...]
    alerts: tuple[OpenAlert, ...]
    pending: tuple[PendingApproval, ...]
    unticked: tuple[UntickedItem, ...]
    ledger: CostLedger
    notes: tuple[str, ...] = ()  # what a report rebuilt for a past time could not reconstruct, one line each
    history: History | None = None  # set when rebuilt for a past time: decisions and quality read it too

    def common(
        self,
    ) -> tuple[
        tuple[StepOutcome, ...],
        tuple[MetricReading, ...],
        tuple[OpenAlert, ...],
        tuple[PendingApproval, ...],
        tuple[UntickedItem, ...],
        CostLedger,
    ]:
        """The builders' shared positional arguments, in their order."""
        return self.outcomes, self.metrics, self.alerts, self.pending, self.unticked, self.ledger


class ReportGatherer:
    """Builds report inputs for one run over a span of run days, as of ``now``, from the sections' gatherers."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)
        self.past = HistoryReader(bot.store)
        self.blockers = BlockersGatherer(bot)
        self.measures = MetricsGatherer(bot)
        self.cost = CostGatherer(bot)
        self.verdicts = VerdictsGatherer(bot)

    # --- the whole set -------------------------------------------------------------------------

    async def inputs(
        self, run: Run, first_day: int, last_day: int, now: datetime, *, replay: bool = False
    ) -> ReportInputs:
        """The inputs as of ``now``; ``replay`` rebuilds the blockers from the history as they stood at
        ``now`` (a past moment) instead of reading the current alerts, approvals and checklists."""
        moves = await self.lane_moves(run)
        names = await self.past.names(run.id)
        history = await self.past.history(run, now, moves) if replay else None
        days = range(first_day, last_day + 1)
        return ReportInputs(
            outcomes=tuple(await self.outcomes(run, moves, names, first_day, last_day, now)),
            metrics=tuple(await self.metrics(now)),
            alerts=tuple(await self.blockers.alerts(run.id, now if replay else None)),
            pending=tuple(await self.blockers.pending(run, names, history)),
            unticked=tuple(await self.unticked(run, days, history)),
            ledger=await self.cost.ledger(run.id, [] if run.dry_run else moves, now),
            notes=tuple(history.gaps()) if history else (),
            history=history,
        )

    # --- the sections the report service asks for one by one -------------------------------------

    async def lane_moves(self, run: Run) -> list[LaneMove]:
        """Every lane move of the run, oldest first (see HistoryReader.lane_moves)."""
        return await self.past.lane_moves(run)

    async def metrics(self, now: datetime) -> list[MetricReading]:
        return await self.measures.metrics(now)

    async def chart_series(self, run: Run, day: int, now: datetime) -> list[ChartSeries]:
        return await self.measures.chart_series(run, day, now)

    async def unticked(self, run: Run, days: Iterable[int], history: History | None = None) -> list[UntickedItem]:
        return await self.blockers.unticked(run, days, history)

    async def decisions(self, run_id: str, history: History | None = None) -> list[GateDecision]:
        return await self.verdicts.decisions(run_id, history)

    async def quality(self, run: Run, now: datetime, history: History | None = None) -> list[QualityReading]:
        return await self.verdicts.quality(run, now, history)

    # --- finished steps --------------------------------------------------------------------------

    async def outcomes(
        self,
        run: Run,
        moves: Sequence[LaneMove],
        names: dict[str, str],
        first_day: int,
        last_day: int,
        now: datetime,
    ) -> list[StepOutcome]:
        """Lanes whose latest state (as of the span's end, or now) is finished and was reached in the span.

        The span starts at the previous working day's report time, not at midnight: a step finished
        after one 5 PM report is in the next one instead of in none.
        """
        start, end = day_span(self.runbook, run, first_day, last_day)
        if first_day > 1:
            calendar = RunCalendar(self.runbook, run.start_date)
            previous = calendar.date_of(first_day - 1)
            start = datetime.combine(previous, self.runbook.schedule.daily_report_at, self.zone)
        cutoff = min(end, now + timedelta(microseconds=1))
        latest: dict[tuple[str, str], LaneMove] = {}
        for move in moves:
            if move.at < cutoff:
                latest[(move.step_id, move.environment)] = move
        runners = await self._runners(run.id)
        found: list[StepOutcome] = []
        for (step_id, environment), move in latest.items():
            if move.state not in FINISHED_STATES or not start <= move.at < cutoff:
                continue
            step = self.runbook.step(step_id)
            by = move.actor_name
            if move.state == StepState.DONE.value or by == BOT_ACTOR.name:
                runner = runners.get((step_id, environment))
                by = names.get(runner, runner) if runner else by
            title = step.title if step else step_id
            found.append(StepOutcome(step_id, title, environment, move.state, move.at, by, run.dry_run))
        return found

    async def _runners(self, run_id: str) -> dict[tuple[str, str], str]:
        """Who asked for each lane's latest apply: the person a finished step is credited to."""
        runners: dict[tuple[str, str], str] = {}
        for execution in await self.bot.store.executions(run_id):
            if execution.kind == "apply":
                runners[(execution.step_id, execution.environment)] = execution.requested_by
        return runners
