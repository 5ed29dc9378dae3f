"""Reads the store, the metrics and the runbook into the small input records of the report builders.

The builders in bot/engine/report_data.py are pure; this is the one place that knows where each
fact lives. Lane history comes from the audit log (every lane move is audited with its time and
actor), with the lanes' current state as a fallback; a metric that cannot be read is "no data".

A past day's report asked for later is rebuilt as it stood at that day's report time (a ``History``):
lane states, votes, ticks, waivers, gate decisions and alerts from their timestamps and the audit log,
and a line in ``ReportInputs.notes`` for what the store's history cannot tell.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import structlog

from bot.cloud.billing_export import SOURCE as BILLING_SOURCE
from bot.cloud.billing_export import BillingExport
from bot.engine import approvals
from bot.engine.calendar import RunCalendar
from bot.engine.cost_ledger import CostEntry, CostLedger, LaneEvent, build_cost_ledger
from bot.engine.ports import BOT_ACTOR, AlertRecord, Point
from bot.engine.records import Approval, AuditEntry, ChecklistTick, Run, StepState, Waiver
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
from bot.reports.facts import FactBook, slug
from bot.runbook.models import Environment, Metric, Runbook, Step

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)

FINISHED_STATES = frozenset({StepState.DONE, StepState.FAILED, StepState.ROLLED_BACK, StepState.SKIPPED})
REPORT_METRICS: tuple[str, ...] = (
    "p95_latency_ms",
    "response_time_ms",
    "cache_hit_rate_pct",
    "db_query_ms",
    "error_rate_pct",
    "availability_pct",
)
CHART_METRICS: tuple[str, ...] = ("p95_latency_ms", "cache_hit_rate_pct", "error_rate_pct", "db_query_ms")
READING_WINDOW = timedelta(minutes=15)
WAITING_STATES = (StepState.READY.value, StepState.APPROVED.value)
GATE_DECISION_ENTRIES = ("gate decided", "gate reopened")


def bills_key(run_id: str) -> str:
    """Where ``/ion cost`` appends a run's bills in the key-value store (a JSON list)."""
    return f"cost:bills:{run_id}"


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
    """The run's recorded past, to tell how things stood at ``at`` rather than now."""

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
        for entry in self.audit:
            if entry.step_id != scope or entry.outcome != "ok" or entry.what not in ("tick", "untick"):
                continue
            item = entry.after if entry.what == "tick" else entry.before
            if not item:
                continue
            mentioned.add(item)
            if entry.at > self.at:
                continue
            if entry.what == "tick":
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
        latest: AuditEntry | None = None
        recorded = False
        for entry in self.audit:
            if entry.step_id != gate_id or entry.outcome != "ok" or entry.what not in GATE_DECISION_ENTRIES:
                continue
            recorded = True
            if entry.at <= self.at:
                latest = entry
        return (latest if latest is not None and latest.what == "gate decided" else None), recorded

    def gaps(self) -> list[str]:
        """What the history cannot tell: lanes known only by a state reached after ``at``."""
        unknown = sorted({f"{m.step_id} ({m.environment})" for m in self.moves if not m.audited and m.at > self.at})
        if not unknown:
            return []
        return [
            f"{', '.join(unknown)} changed after then and the audit log has no earlier state, "
            "so they are left out of this report."
        ]


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


def production_environment(runbook: Runbook) -> Environment:
    return next((e for e in runbook.environments if e.production), runbook.environments[-1])


class ReportGatherer:
    """Builds report inputs for one run over a span of run days, as of ``now``."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    # --- the whole set -------------------------------------------------------------------------

    async def inputs(
        self, run: Run, first_day: int, last_day: int, now: datetime, *, replay: bool = False
    ) -> ReportInputs:
        """The inputs as of ``now``; ``replay`` rebuilds the blockers from the history as they stood at
        ``now`` (a past moment) instead of reading the current alerts, approvals and checklists."""
        moves = await self.lane_moves(run)
        names = await self.names(run.id)
        history = await self.history(run, now, moves) if replay else None
        days = range(first_day, last_day + 1)
        return ReportInputs(
            outcomes=tuple(await self.outcomes(run, moves, names, first_day, last_day, now)),
            metrics=tuple(await self.metrics(now)),
            alerts=tuple(await self.alerts(run.id, now if replay else None)),
            pending=tuple(await self.pending(run, names, history)),
            unticked=tuple(await self.unticked(run, days, history)),
            ledger=await self.ledger(run.id, [] if run.dry_run else moves, now),
            notes=tuple(history.gaps()) if history else (),
            history=history,
        )

    async def history(self, run: Run, at: datetime, moves: Sequence[LaneMove] | None = None) -> History:
        """The run's lane moves and audit log, to read how things stood at ``at``."""
        found = moves if moves is not None else await self.lane_moves(run)
        return History(at, found, await self.bot.store.audit(run.id))

    # --- who and when ----------------------------------------------------------------------------

    async def names(self, run_id: str) -> dict[str, str]:
        """user id -> display name, from the audit log and the approvals (the store keeps no user table)."""
        found = {BOT_ACTOR.user_id: BOT_ACTOR.name}
        for entry in await self.bot.store.audit(run_id):
            found.setdefault(entry.actor_id, entry.actor_name)
        return found

    async def lane_moves(self, run: Run) -> list[LaneMove]:
        """Every lane move of the run, oldest first; lanes without audited moves use their current state."""
        moves: list[LaneMove] = []
        for entry in await self.bot.store.audit(run.id):
            if entry.what != "step state" or entry.outcome != "ok" or not entry.after or not entry.step_id:
                continue
            step_id, _, environment = entry.step_id.partition("@")
            if environment:
                moves.append(LaneMove(step_id, environment, entry.after, entry.at, entry.actor_id, entry.actor_name))
        seen = {(m.step_id, m.environment) for m in moves}
        for lane in await self.bot.store.lanes(run.id):
            if (lane.step_id, lane.environment) not in seen and lane.changed_at is not None:
                who = lane.changed_by or BOT_ACTOR.user_id
                state, at = lane.state.value, lane.changed_at
                moves.append(LaneMove(lane.step_id, lane.environment, state, at, who, who, audited=False))
        moves.sort(key=lambda m: m.at)
        return moves

    def day_span(self, run: Run, first_day: int, last_day: int) -> tuple[datetime, datetime]:
        """Local midnight of ``first_day`` to local midnight after ``last_day``, as aware datetimes."""
        calendar = RunCalendar(self.runbook, run.start_date)
        start = datetime.combine(calendar.date_of(first_day), time(0), self.zone)
        end = datetime.combine(calendar.date_of(last_day) + timedelta(days=1), time(0), self.zone)
        return start, end

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
        start, end = self.day_span(run, first_day, last_day)
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

    # --- blockers --------------------------------------------------------------------------------

    async def alerts(self, run_id: str, at: datetime | None = None) -> list[OpenAlert]:
        """The active alerts; with ``at``, those that were open then (opened by then, not yet resolved)."""
        if at is None:
            return [
                OpenAlert(a.trigger_id, a.message, a.opened_at, a.state, a.kind)
                for a in await self.bot.store.active_alerts(run_id)
            ]
        return [
            OpenAlert(a.trigger_id, a.message, a.opened_at, alert_state_at(a, at), a.kind)
            for a in await self.bot.store.alerts(run_id)
            if a.opened_at <= at and not (a.state == "resolved" and (a.resolved_at is None or a.resolved_at <= at))
        ]

    async def pending(self, run: Run, names: dict[str, str], history: History | None = None) -> list[PendingApproval]:
        """Lanes someone asked to run that still need votes, and approved lanes nobody has run yet
        (now, or as they stood at ``history.at``, counting only the votes given and not withdrawn by then)."""
        # step, environment, state, who asked (shown), who may not approve it in production (four eyes)
        waiting: list[tuple[str, str, str, str | None, str | None]] = []
        if history is None:
            for lane in await self.bot.store.lanes(run.id):
                shown = lane.requested_by or lane.changed_by
                waiting.append((lane.step_id, lane.environment, lane.state.value, shown, lane.requested_by))
        else:
            requesters = history.requesters()
            for (step_id, environment), move in history.lanes().items():
                asked = requesters.get((step_id, environment))
                waiting.append((step_id, environment, move.state, asked or move.actor_id, asked))
        found: list[PendingApproval] = []
        for step_id, environment, state, shown, requester in waiting:
            step = self.runbook.step(step_id)
            if step is None or state not in WAITING_STATES:
                continue
            who = names.get(shown, shown) if shown else None
            if state == StepState.APPROVED.value:
                found.append(PendingApproval(step.id, step.title, environment, "someone to run it", who, approved=True))
                continue
            votes = await self.bot.store.approvals(run.id, step.id, environment)
            at = history.at if history is not None else None
            standing = [v for v in votes if (v.active if at is None else _vote_stood(v, at))]
            needs = self._missing(step, environment, standing, requester)
            found.append(PendingApproval(step.id, step.title, environment, needs, who))
        return found

    def _missing(self, step: Step, environment: str, votes: Sequence[Approval], requester: str | None) -> str:
        """What a lane still needs, given its standing votes; in production the requester's own never counts."""
        rollout = self.bot.rollout
        production = rollout.is_production(environment)
        counted = [v for v in votes if v.decision == "approved" and not (production and v.user_id == requester)]
        missing = []
        for need in rollout.approval_needs(step, environment):
            users = {v.user_id for v in counted if need.role in (approvals.ANY_APPROVER, v.role)}
            if len(users) < need.count:
                missing.append(approvals.Need(need.role, need.count - len(users)).describe())
        return ", ".join(missing) or "a fresh look at its plan"

    async def unticked(self, run: Run, days: Iterable[int], history: History | None = None) -> list[UntickedItem]:
        """Checklist items neither ticked nor waived, of the days' steps that work has started on
        (now, or as they stood at ``history.at``).

        A step nobody has asked for yet is not blocked by its checklist; it shows in the plan instead.
        """
        if history is None:
            lanes = {(lane.step_id, lane.environment): lane.state.value for lane in await self.bot.store.lanes(run.id)}
        else:
            lanes = {key: move.state for key, move in history.lanes().items()}
        found: list[UntickedItem] = []
        for number in days:
            day = self.runbook.day(number)
            for step in day.steps if day else []:
                if not step.checklist_items():
                    continue
                states = [lanes[(step.id, env)] for env in step.environments if (step.id, env) in lanes]
                if all(s in (StepState.PENDING.value, StepState.SKIPPED.value) for s in states):
                    continue
                ticks = await self.bot.store.ticks(run.id, step.id)
                waivers: Sequence[Waiver] = await self.bot.store.waivers(run.id, step.id)
                if history is None:
                    ticked = {t.item_id for t in ticks}
                else:
                    ticked = set(history.ticked(step.id, ticks))
                    waivers = [w for w in waivers if w.at <= history.at]
                if any(w.item_id is None for w in waivers):
                    continue
                waived = {w.item_id for w in waivers}
                found += [
                    UntickedItem(step.id, item.id, item.text)
                    for item in step.checklist_items()
                    if item.id not in ticked and item.id not in waived
                ]
        return found

    # --- metrics ---------------------------------------------------------------------------------

    def report_metrics(self) -> list[Metric]:
        """The performance targets' metrics, then the other headline metrics the runbook defines."""
        wanted = [t.metric for t in self.runbook.targets.performance] + list(REPORT_METRICS)
        chosen: list[Metric] = []
        for metric_id in dict.fromkeys(wanted):
            metric = self.runbook.metric(metric_id)
            if metric is not None and metric.source == "monitoring":
                chosen.append(metric)
        return chosen

    async def metrics(self, now: datetime) -> list[MetricReading]:
        environment = production_environment(self.runbook)
        readings: list[MetricReading] = []
        for metric in self.report_metrics():
            points = await self._points(metric, environment, now - READING_WINDOW, now)
            value = aggregate([p.value for p in points], metric.window_aggregate)
            readings.append(MetricReading(metric.id, value, metric.baseline, metric.target, metric.unit))
        return readings

    async def _points(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> list[Point]:
        try:
            series = await self.bot.metrics.read(metric, environment, start, end)
        except Exception as error:  # an unreadable metric is "no data", never healthy and never a crash
            log.warning("report metric unreadable", metric=metric.id, error=str(error))
            return []
        return [p for p in series.points if start <= p.at <= end and math.isfinite(p.value)]

    async def chart_series(self, run: Run, day: int, now: datetime) -> list[ChartSeries]:
        """Hourly points (the mean of each hour; None when empty) from local midnight to the report time."""
        start, end = self.day_span(run, day, day)
        until = min(end, now)
        environment = production_environment(self.runbook)
        series: list[ChartSeries] = []
        for metric_id in CHART_METRICS:
            metric = self.runbook.metric(metric_id)
            if metric is None:
                continue
            points = await self._points(metric, environment, start, until) if until > start else []
            starts: list[datetime] = []
            hour = start
            while hour < until:
                starts.append(hour)
                hour = hour + timedelta(hours=1)
            # One pass over the points (not one scan per hour): bisect finds each point's hour.
            buckets: dict[int, list[float]] = {}
            for p in points:
                index = bisect_right(starts, p.at) - 1
                if index >= 0 and p.at < starts[index] + timedelta(hours=1):
                    buckets.setdefault(index, []).append(p.value)
            hours: list[tuple[datetime, float | None]] = []
            for index, hour in enumerate(starts):
                values = buckets.get(index, [])
                hours.append((hour, sum(values) / len(values) if values else None))
            target = next((t.target for t in self.runbook.targets.performance if t.metric == metric_id), metric.target)
            series.append(ChartSeries(metric.title, metric.unit, hours, metric.baseline, target))
        return series

    # --- cost, gates, quality -----------------------------------------------------------------

    async def bills(self, run_id: str) -> list[CostEntry]:
        stored = await self.bot.store.get_value(bills_key(run_id))
        entries: list[CostEntry] = []
        for raw in stored if isinstance(stored, list) else []:
            try:
                entries.append(
                    CostEntry(
                        str(raw["service"]),
                        float(raw["monthly_usd"]),
                        datetime.fromisoformat(str(raw["recorded_at"])).astimezone(self.zone),
                        str(raw.get("by", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                log.warning("unreadable bill skipped", run_id=run_id, bill=raw)
        return entries

    async def ledger(self, run_id: str, moves: Sequence[LaneMove], now: datetime) -> CostLedger:
        """Expected savings from the lanes; realised from the billing export when one is configured
        (an unreadable export says so in the log and falls back to the recorded bills), else the bills."""
        events = [m.event() for m in moves if m.at <= now]
        table = self.bot.settings.billing_export
        if table:
            try:
                export = BillingExport(table, self.bot.settings.billing_api_url)
                exported = await export.bills(self.runbook, now.astimezone(self.zone))
            except Exception as error:  # the report still goes out, with the typed bills
                log.warning("billing export unreadable", table=table, error=str(error))
            else:
                return build_cost_ledger(self.runbook, events, exported, BILLING_SOURCE)
        bills = [b for b in await self.bills(run_id) if b.recorded_at <= now]
        return build_cost_ledger(self.runbook, events, bills)

    async def decisions(self, run_id: str, history: History | None = None) -> list[GateDecision]:
        """The gates' decisions now, or as they stood at ``history.at`` (a NO reopened since still counts)."""
        found: list[GateDecision] = []
        for gate in self.runbook.gates:
            record = await self.bot.store.get_gate(run_id, gate.id)
            if history is not None:
                entry, recorded = history.decision(gate.id)
                if entry is not None:
                    found.append(GateDecision(gate.id, entry.after, entry.actor_name, entry.at))
                    continue
                if recorded or record is None or record.decided_at is None or record.decided_at > history.at:
                    continue  # undecided then; a record without audited decisions is trusted by its time
            if record is not None:
                who = record.decided_by_name or record.decided_by
                overridden = tuple(
                    f"{h.label}: overridden by {h.override_by}: {h.override_reason}"
                    for h in record.health
                    if h.override_reason
                )
                found.append(GateDecision(gate.id, record.decision, who, record.decided_at, overridden))
        return found

    async def quality(self, run: Run, now: datetime, history: History | None = None) -> list[QualityReading]:
        """Targets with a condition are checked from metrics; manual ones count only when a gate item says so.

        With ``history`` (a past ``now``) an incidents check that open incidents resolved since would
        miss is reported as unknown, saying why, rather than as met.
        """
        environment = production_environment(self.runbook)
        resolved_since = await self._incidents_resolved_since(run.id, now) if history is not None else 0
        readings: list[QualityReading] = []
        for target in self.runbook.targets.quality:
            if target.condition is not None:
                metric = self.runbook.metric(target.condition.metric)
                if resolved_since and metric is not None and metric.source == "incidents":
                    detail = (
                        f"cannot be rebuilt for then: {resolved_since} incident(s) open at the time were "
                        "resolved since, and the incident count sees only open ones"
                    )
                    readings.append(QualityReading(target.label, None, detail))
                    continue
                result = await self.bot.checker.check(target.condition, environment, now)
                readings.append(QualityReading(target.label, result.passed, result.detail))
            else:
                recorded = await FactBook(self.bot).reading(run.id, target.label, now)
                readings.append(recorded or await self._ticked_on_a_gate(run, target.label, history))
        return readings

    async def _incidents_resolved_since(self, run_id: str, at: datetime) -> int:
        return sum(
            1
            for a in await self.bot.store.alerts(run_id)
            if a.kind == "incident" and a.opened_at <= at and a.resolved_at is not None and a.resolved_at > at
        )

    async def _ticked_on_a_gate(self, run: Run, label: str, history: History | None = None) -> QualityReading:
        wanted = _words(label)
        for gate in self.runbook.gates:
            for section in gate.sections:
                for item in section.items:
                    if _words(item.text) != wanted:
                        continue
                    ticks = await self.bot.store.ticks(run.id, gate.id)
                    ticked = history.ticked(gate.id, ticks) if history else {t.item_id: t.name for t in ticks}
                    name = ticked.get(item.id)
                    if name is not None:
                        return QualityReading(label, True, f"ticked on {gate.id} by {name}")
        return QualityReading(label, None, f"nobody has recorded it: /ion record {slug(label)} yes|no [NOTE]")


def aggregate(values: Sequence[float], how: str) -> float | None:
    """The metric's window aggregate of ``values``; None (no data) when there are none."""
    if not values:
        return None
    reducers: dict[str, Any] = {"max": max, "min": min, "last": lambda v: v[-1], "sum": math.fsum}
    if how in reducers:
        return float(reducers[how](values))
    return math.fsum(values) / len(values)


def alert_state_at(alert: AlertRecord, at: datetime) -> str:
    """An alert's state at ``at`` from the times it was held and acknowledged; "open" before either."""
    for state, key in (("held", "held_at"), ("acknowledged", "acknowledged_at")):
        stamp = _stamp(alert.data.get(key))
        if stamp is not None and stamp <= at:
            return state
    return "open"


def _stamp(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _vote_stood(vote: Approval, at: datetime) -> bool:
    """Given by ``at`` and not withdrawn by then."""
    return vote.at <= at and (vote.withdrawn_at is None or vote.withdrawn_at > at)


def _words(text: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())
