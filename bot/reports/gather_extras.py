"""The parts of a report that are about the day's own work, not the fixed headline set.

A day's steps say what they must achieve (``acceptance``, metric gates, checklist conditions) and
when to undo them (``rollback_if``); each is judged here at the report time, against production,
with the window it names. The phase tables follow each change: how far it reached (staging, a
canary share, all traffic), what its metric did, and whether it was rolled back and why. Steps
that wait on a rolled-back or failed step are named as blocked, with the reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from bot.engine.ports import AlertRecord, CheckResult
from bot.engine.records import Execution, Run, StepState
from bot.engine.report_model import BlockedStep, ChangeRow, MetricStatus, StepMetricLine
from bot.reports.gather_metrics import production_environment
from bot.reports.history import LaneMove
from bot.reports.render import format_value
from bot.runbook.conditions import Condition, parse_condition
from bot.runbook.durations import format_duration
from bot.runbook.models import CloudRunDeploy, CloudRunTraffic, MetricGate, Runbook, Step

if TYPE_CHECKING:
    from bot.bootstrap import Bot

UNDONE = (StepState.ROLLED_BACK.value, StepState.FAILED.value)
NOT_STARTED = (StepState.PENDING.value, StepState.READY.value, StepState.APPROVED.value)


@dataclass(frozen=True)
class _Judged:
    step_id: str
    role: Literal["accept", "rollback"]
    condition: Condition


def window_text(condition: Condition, at: datetime) -> str:
    """Which window a value is: "mean over 1h to 17:00", "worst of 10m to 17:00", "latest at 17:00"."""
    clock = f"{at:%H:%M}"
    if condition.window is None:
        return f"latest at {clock}"
    span = format_duration(condition.window)
    if condition.mode == "for":
        return f"sustained {span} to {clock}"
    return f"{span} window to {clock}"


def conditions_of(step: Step) -> list[tuple[Literal["accept", "rollback"], Condition]]:
    """The step's acceptance conditions (acceptance, metric gates, checklist conditions, verification),
    then its rollback_if ones, each once."""
    found: list[tuple[Literal["accept", "rollback"], Condition]] = []
    seen: set[str] = set()

    def add(role: Literal["accept", "rollback"], condition: Condition | str | None) -> None:
        if condition is None:
            return
        parsed = condition if isinstance(condition, Condition) else parse_condition(str(condition))
        key = f"{role}:{parsed}"
        if key not in seen:
            seen.add(key)
            found.append((role, parsed))

    for condition in step.acceptance:
        add("accept", condition)
    if step.verification is not None:
        for condition in step.verification.conditions:
            add("accept", condition)
    for action in step.actions:
        if isinstance(action, MetricGate):
            add("accept", action.condition)
    for item in step.checklist:
        add("accept", item.condition)
    for condition in step.rollback_if:
        add("rollback", condition)
    return found


def status_of(role: Literal["accept", "rollback"], result: CheckResult) -> MetricStatus:
    """An acceptance condition is met when it holds; a rollback condition when it does not."""
    if result.passed is None:
        return "unknown"
    holds = result.passed
    return "met" if holds == (role == "accept") else "not met"


class ExtrasGatherer:
    """Reads what the day-specific report parts need; one per report publisher."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    async def step_metrics(self, days: Iterable[int], at: datetime) -> tuple[StepMetricLine, ...]:
        """Every condition of the days' steps, judged at ``at`` against production."""
        environment = production_environment(self.runbook)
        local = at.astimezone(self.zone)
        lines: list[StepMetricLine] = []
        for number in days:
            day = self.runbook.day(number)
            for step in day.steps if day else []:
                for role, condition in conditions_of(step):
                    result = await self.bot.checker.check(condition, environment, at)
                    metric = self.runbook.metric(condition.metric)
                    lines.append(
                        StepMetricLine(
                            step_id=step.id,
                            role=role,
                            condition=condition.text or str(condition),
                            label=metric.title if metric else condition.metric,
                            unit=metric.unit if metric else "",
                            value=result.value,
                            baseline=metric.baseline if metric else None,
                            threshold=result.threshold,
                            window=window_text(condition, local),
                            status=status_of(role, result),
                        )
                    )
        return tuple(lines)

    # --- lanes as they stood ------------------------------------------------------------------

    @staticmethod
    def latest(moves: Sequence[LaneMove], at: datetime) -> dict[tuple[str, str], LaneMove]:
        found: dict[tuple[str, str], LaneMove] = {}
        for move in moves:
            if move.at <= at:
                found[(move.step_id, move.environment)] = move
        return found

    def plan_states(self, day: int, moves: Sequence[LaneMove], at: datetime) -> tuple[tuple[str, str, bool], ...]:
        """Each of the day's steps as it stands at ``at``: "done in production at 10:12", "running"..."""
        lanes = self.latest(moves, at)
        plan = self.runbook.day(day)
        states: list[tuple[str, str, bool]] = []
        for step in plan.steps if plan else []:
            said = []
            done = True
            for environment in step.environments:
                move = lanes.get((step.id, environment))
                if move is None or move.state == StepState.PENDING.value:
                    done = False
                    continue
                if move.state != StepState.DONE.value:
                    done = False
                when = f" at {move.at.astimezone(self.zone):%H:%M}" if move.state in ("done", *UNDONE) else ""
                said.append(f"{move.state.replace('_', ' ')} in {environment}{when}")
            states.append((step.id, "; ".join(said), done and bool(said)))
        return tuple(states)

    async def gate_states(self, run: Run, day: int, at: datetime) -> tuple[tuple[str, str, bool], ...]:
        """The day's gates as they stood at ``at``: decided (by whom, when) or not yet."""
        states: list[tuple[str, str, bool]] = []
        for gate in self.runbook.gates:
            if gate.day != day:
                continue
            record = await self.bot.store.get_gate(run.id, gate.id)
            if record is None or record.decision is None or record.decided_at is None or record.decided_at > at:
                continue
            who = record.decided_by_name or record.decided_by
            when = record.decided_at.astimezone(self.zone)
            states.append((gate.id, f"decided {record.decision.upper()} by {who} at {when:%H:%M}", True))
        return tuple(states)

    def blocked(self, moves: Sequence[LaneMove], at: datetime, days: Iterable[int]) -> tuple[BlockedStep, ...]:
        """Steps of ``days`` not yet run whose dependency was rolled back or failed (in any lane)."""
        lanes = self.latest(moves, at)
        found: list[BlockedStep] = []
        for number in days:
            day = self.runbook.day(number)
            for step in day.steps if day else []:
                own = [lanes.get((step.id, env)) for env in step.environments]
                if any(m is not None and m.state not in NOT_STARTED for m in own):
                    continue
                reasons = [self._undone(dep, lanes) for dep in step.depends_on]
                said = [r for r in reasons if r]
                if said:
                    found.append(BlockedStep(step.id, step.title, "; ".join(said)))
        return tuple(found)

    def _undone(self, dependency: str, lanes: dict[tuple[str, str], LaneMove]) -> str | None:
        step = self.runbook.step(dependency)
        if step is None:
            return None
        for environment in step.environments:
            move = lanes.get((dependency, environment))
            if move is not None and move.state in UNDONE:
                return f"{dependency} was {move.state.replace('_', ' ')} in {environment}"
        return None

    # --- the phase tables -----------------------------------------------------------------------

    async def changes(
        self, run: Run, moves: Sequence[LaneMove], at: datetime, first: int, last: int
    ) -> tuple[ChangeRow, ...]:
        """One row per step of days first..last that anyone started, in runbook order."""
        lanes = self.latest(moves, at)
        alerts = [a for a in await self.bot.store.alerts(run.id) if a.opened_at <= at]
        executions = [e for e in await self.bot.store.executions(run.id) if e.started_at <= at]
        rows: list[ChangeRow] = []
        for number in range(first, last + 1):
            day = self.runbook.day(number)
            for step in day.steps if day else []:
                states = {env: lanes[(step.id, env)] for env in step.environments if (step.id, env) in lanes}
                if not states or all(m.state == StepState.PENDING.value for m in states.values()):
                    continue
                undone = next((m for m in states.values() if m.state == StepState.ROLLED_BACK.value), None)
                why = self._why(step, undone, alerts, executions) if undone is not None else None
                rows.append(
                    ChangeRow(
                        step.id,
                        step.title,
                        self._reached(step, states, lanes),
                        await self._effect(step, at),
                        undone is not None,
                        why,
                    )
                )
        return tuple(rows)

    async def reasons(self, run: Run, moves: Sequence[LaneMove], at: datetime) -> tuple[tuple[str, str], ...]:
        """Why each step rolled back by ``at`` was rolled back (its latest rolled-back lane)."""
        lanes = self.latest(moves, at)
        alerts = [a for a in await self.bot.store.alerts(run.id) if a.opened_at <= at]
        executions = [e for e in await self.bot.store.executions(run.id) if e.started_at <= at]
        found: dict[str, str] = {}
        for (step_id, _env), move in sorted(lanes.items(), key=lambda item: item[1].at):
            step = self.runbook.step(step_id)
            if step is not None and move.state == StepState.ROLLED_BACK.value:
                found[step_id] = self._why(step, move, alerts, executions)
        return tuple(found.items())

    def _reached(self, step: Step, states: dict[str, LaneMove], lanes: dict[tuple[str, str], LaneMove]) -> str:
        """The furthest environment the step went to (runbook order), and how it stands there."""
        went = [env for env in step.environments if env in states and states[env].state not in NOT_STARTED]
        if not went:
            latest = max(states.values(), key=lambda m: m.at)
            return f"not run yet ({latest.state.replace('_', ' ')} in {latest.environment})"
        furthest = states[went[-1]]
        if furthest.state != StepState.DONE.value:
            return f"{furthest.environment} ({furthest.state.replace('_', ' ')} there)"
        production = {e.name for e in self.runbook.environments if e.production}
        if furthest.environment not in production:
            return furthest.environment
        share = self._traffic_share(step, lanes)
        if share is None:
            return "production"
        return "production, 100 % of traffic" if share >= 100 else f"production canary, {share} % of traffic"

    def _traffic_share(self, step: Step, lanes: dict[tuple[str, str], LaneMove]) -> int | None:
        """The share of traffic the step's revision reached: its own canary, raised by the later traffic
        steps that depend on it (transitively) and are done; None when it deploys no canary."""
        share = _own_share(step)
        if share is None:
            return None
        for other in self.runbook.steps():
            if step.id in self._ancestors(other) and any(
                lanes.get((other.id, env)) is not None and lanes[(other.id, env)].state == StepState.DONE.value
                for env in other.environments
            ):
                raised = _own_share(other)
                share = max(share, raised or 0)
        return share

    def _ancestors(self, step: Step) -> set[str]:
        seen: set[str] = set()
        todo = list(step.depends_on)
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            found = self.runbook.step(current)
            todo += found.depends_on if found else []
        return seen

    async def _effect(self, step: Step, at: datetime) -> str:
        """The step's first metric, baseline to its value now, then its declared expected impact."""
        conditions = conditions_of(step)
        parts: list[str] = []
        if conditions:
            condition = conditions[0][1]
            metric = self.runbook.metric(condition.metric)
            if metric is not None:
                result = await self.bot.checker.check(condition, production_environment(self.runbook), at)
                local = at.astimezone(self.zone)
                baseline = format_value(metric.baseline, metric.unit) if metric.baseline is not None else "no baseline"
                parts.append(
                    f"{metric.title} {baseline} → {format_value(result.value, metric.unit)} "
                    f"({window_text(condition, local)})"
                )
        if step.expected_impact:
            parts.append(f"declared impact: {step.expected_impact.rstrip('.')}")
        if step.cost_impact is not None:
            parts.append(f"{step.cost_impact.service} {format_value(step.cost_impact.monthly_usd, 'usd')}/month")
        return "; ".join(parts) or "no metric named"

    def _why(self, step: Step, undone: LaneMove, alerts: Sequence[AlertRecord], executions: Sequence[Execution]) -> str:
        """The trigger and its value when an alert on the step came first; else the failed check; else who."""
        before = [a for a in alerts if a.step_id == step.id and a.opened_at <= undone.at and a.kind != "no_data"]
        if before:
            alert = max(before, key=lambda a: a.opened_at)
            trigger = next((t for t in self.runbook.triggers if t.id == alert.trigger_id), None)
            name = trigger.title if trigger else alert.trigger_id
            value = ""
            if alert.value is not None:
                metric = self.runbook.metric(trigger.condition.metric) if trigger else None
                unit = metric.unit if metric else ""
                limit = f" (threshold {format_value(alert.threshold, unit)})" if alert.threshold is not None else ""
                value = f": {format_value(alert.value, unit)}{limit}"
            return f"trigger {name}{value}, at {alert.opened_at.astimezone(self.zone):%a %H:%M}"
        failed = [e for e in executions if e.step_id == step.id and e.kind == "apply" and e.state.value == "failed"]
        if failed and failed[-1].message:
            return f"its check failed: {failed[-1].message}"
        return f"rolled back by {undone.actor_name} at {undone.at.astimezone(self.zone):%a %H:%M}"


def _own_share(step: Step) -> int | None:
    """The last traffic share the step's own actions give (a canary deploy or a traffic shift)."""
    share: int | None = None
    for action in step.actions:
        if isinstance(action, CloudRunDeploy) and action.traffic_percent:
            share = action.traffic_percent
        elif isinstance(action, CloudRunTraffic):
            share = action.percent
    return share
