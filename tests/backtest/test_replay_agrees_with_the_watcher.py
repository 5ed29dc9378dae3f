"""The backtest's replay gives the live watcher's alerts: a synthetic history with faults played through
the real Watcher on the virtual clock, poll by poll, and through the backtest in one go."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import numpy as np

from bot.backtest.lifecycle import Alerts, Span, replay
from bot.backtest.timeline import FALSE, TRUE, UNKNOWN, History, micros, moment, poll_times, verdicts
from bot.engine.clock import VirtualClock
from bot.engine.evaluator import Evaluation, State, lookback
from bot.engine.ports import AlertRecord
from bot.engine.triggers import TriggerContext, TriggerPolicy, decide
from bot.engine.watch import Watcher
from bot.runbook.models import Runbook, Trigger
from bot.sim.faults import FaultPlan
from bot.sim.metrics import SyntheticMetrics
from tests.triggers.builders import (
    RUN_START,
    T0,
    AlertIncidents,
    Ids,
    InMemoryAlerts,
    RecordingNotifier,
    seed_runbook,
)

TRIGGERS = [
    {"id": "error_rate", "title": "Error rate", "condition": "error_rate_pct > 1 for 5m"},
    {"id": "p95_latency", "title": "P95 latency", "condition": "p95_latency_ms > 100 for 5m"},
    {"id": "p95_over", "title": "P95 over ten minutes", "condition": "p95_latency_ms > 60 over 10m"},
    {"id": "cache_hit_drop", "title": "Cache drop", "condition": "cache_hit_rate_pct < baseline - 5 for 5m"},
    {"id": "lag_latest", "title": "Lag now", "condition": "db_replication_lag_ms > 500"},
]
FAULTS = [
    "error_rate_pct 2.5 from day2 10:00 for 15m",  # one clean firing
    "error_rate_pct 3 from day2 10:40 for 6m",  # fires again after the cool-down
    "error_rate_pct 3 from day2 10:49 for 6m",  # back inside the cool-down: no second alert
    "p95_latency_ms 180 from day2 11:00 for 4m",  # shorter than 'for 5m': never fires
    "p95_latency_ms 180 from day2 11:30 for 20m",  # fires the for and the over conditions
    "p95_latency_ms no_data from day2 11:40 for 3m",  # a gap inside the breach resets the run
    "cache_hit_rate_pct 70 from day2 12:00 for 8m",
    "cache_hit_rate_pct no_data from day2 12:30 for 12m",  # a no-data alert opens and resolves
    "db_replication_lag_ms 900 from day2 13:00 for 1m",
    "db_replication_lag_ms 900 from day2 13:05 for 1m",
    "* no_data from day2 14:00 for 4m",
]
START = T0 - timedelta(hours=4, minutes=30)  # day 2, 09:30 in Chicago
END = T0 + timedelta(minutes=20)


def runbook() -> Runbook:
    return seed_runbook(TRIGGERS)


async def watched(book: Runbook, metrics: SyntheticMetrics) -> dict[str, list[tuple[str, datetime, datetime | None]]]:
    """Poll the real watcher every minute from START to END; every alert it opened, by trigger."""
    clock = VirtualClock(START)
    alerts = InMemoryAlerts()
    watcher = Watcher(
        book, metrics, alerts, RecordingNotifier(), clock, _no_rollback, AlertIncidents(alerts), new_id=Ids()
    )
    while clock.now() < END:
        await clock.advance(timedelta(minutes=1))
        await watcher.poll("r1", "C1", "day2.1")
    found: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for alert in alerts.by_id.values():
        found.setdefault(alert.trigger_id, []).append((alert.kind, alert.opened_at, alert.resolved_at))
    return found


async def _no_rollback(alert: object) -> str:
    return "nothing rolled back in a backtest test"


async def backtested(
    book: Runbook, metrics: SyntheticMetrics
) -> dict[str, list[tuple[str, datetime, datetime | None]]]:
    production = book.environments[0]
    polls = poll_times(START + timedelta(minutes=1), END, book.schedule.watch_interval)
    found: dict[str, list[tuple[str, datetime, datetime | None]]] = {}
    for trigger in book.triggers:
        metric = book.metric(trigger.condition.metric)
        assert metric is not None
        if metric.source == "incidents":
            continue
        series = await metrics.read(metric, production, START - lookback(trigger.condition), END)
        states = verdicts(trigger.condition, History.of(series), metric.baseline, polls, metric.window_aggregate)
        alerts = replay(trigger, states, polls, None, TriggerPolicy())
        spans: list[tuple[str, Span]] = [("breach", s) for s in alerts.firings] + [
            ("no_data", s) for s in alerts.no_data
        ]
        found[trigger.id] = [(kind, s.opened_at, s.resolved_at) for kind, s in spans]
    return found


async def test_the_backtest_fires_and_resolves_at_the_same_minutes_as_the_watcher() -> None:
    book = runbook()
    plan = FaultPlan(FAULTS, run_start=RUN_START, calendar=book.calendar)
    metrics = SyntheticMetrics(faults=plan)
    live = await watched(book, metrics)
    replayed = await backtested(book, metrics)

    for trigger_id in ("error_rate", "p95_latency", "p95_over", "cache_hit_drop", "lag_latest"):
        assert sorted(replayed.get(trigger_id, []), key=_key) == sorted(live.get(trigger_id, []), key=_key), trigger_id
    # the scenario really exercises what it claims: firings, a suppressed re-fire, no-data alerts
    assert len([a for a in live["error_rate"] if a[0] == "breach"]) == 2
    assert not [a for a in live.get("p95_latency", []) if a[1] < T0 - timedelta(hours=2, minutes=50)]
    assert any(kind == "no_data" for kind, _, _ in live["cache_hit_drop"])
    assert len([a for a in live["lag_latest"] if a[0] == "breach"]) == 1  # 13:05 is inside the cool-down


def _key(alert: tuple[str, datetime, datetime | None]) -> tuple[str, datetime]:
    return alert[0], alert[1]


NAMES: dict[int, State] = {FALSE: "false", TRUE: "true", UNKNOWN: "unknown"}


def _poll_by_poll(trigger: Trigger, states: np.ndarray, polls: np.ndarray, policy: TriggerPolicy) -> Alerts:
    """Every poll handed to ``decide``, nothing skipped: what ``replay`` must give."""
    breach: AlertRecord | None = None
    no_data: AlertRecord | None = None
    unknown_polls = 0
    firings: list[tuple[datetime, datetime | None]] = []
    blind: list[tuple[datetime, datetime | None]] = []
    for i, state in enumerate(states):
        now = moment(int(polls[i]))
        verdict = Evaluation(NAMES[int(state)], None, None, None, "")
        ctx = TriggerContext(run_id="r", now=now, new_id=f"a{i}")
        decision = decide(trigger, verdict, breach, no_data, unknown_polls, ctx, policy)
        unknown_polls = decision.unknown_polls
        for change in decision.changes:
            if change.kind == "opened":
                firings.append((now, None))
            elif change.kind == "resolved":
                firings[-1] = (firings[-1][0], now)
            elif change.kind == "no_data_opened":
                blind.append((now, None))
            elif change.kind == "no_data_resolved":
                blind[-1] = (blind[-1][0], now)
            active = change.alert if change.alert.state != "resolved" else None
            if change.alert.kind == "no_data":
                no_data = active
            else:
                breach = active
    return Alerts(tuple(Span(a, b) for a, b in firings), tuple(Span(a, b) for a, b in blind))


def test_replay_skipping_quiet_polls_in_bulk_gives_what_every_poll_through_decide_gives() -> None:
    """Long blind stretches (under a breach, clearing or not), flapping, and runs of each state."""
    rng = random.Random(8)
    trigger = runbook().triggers[0]
    policy = TriggerPolicy()
    for _ in range(60):
        runs = [(rng.choice((FALSE, TRUE, UNKNOWN)), rng.choice((1, 2, 3, 5, 12, 40, 300))) for _ in range(30)]
        states = np.array([state for state, length in runs for _ in range(length)], dtype=np.int8)
        polls = np.arange(len(states), dtype=np.int64) * 60_000_000 + micros(T0)
        assert replay(trigger, states, polls, None, policy) == _poll_by_poll(trigger, states, polls, policy)
