"""``run_backtest``: the period, the subjects, the fetch and the replay, as the CLI and Slack call it."""

from __future__ import annotations

import time as wall
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.backtest.history import CHUNK, fetch
from bot.backtest.run import Result, backtest
from bot.backtest.subjects import subjects
from bot.backtest.timeline import US, History, micros, moment
from bot.engine.ports import MetricsSource
from bot.runbook.models import Runbook

MAX_WEEKS = 13  # Cloud Monitoring keeps six weeks of most metrics, custom ones longer; a quarter at most


@dataclass(frozen=True)
class Backtested:
    result: Result
    histories: dict[str, History]  # what was fetched, for the charts


class BacktestRefused(ValueError):
    """The backtest cannot run as asked; the message says what to change."""


def period(runbook: Runbook, weeks: float, now: datetime) -> tuple[datetime, datetime]:
    """[now less ``weeks``, now], both on the watcher's poll grid."""
    if not 0 < weeks <= MAX_WEEKS:
        raise BacktestRefused(f"--weeks must be more than 0 and at most {MAX_WEEKS}, not {weeks:g}.")
    step = runbook.schedule.watch_interval // US
    end = moment(micros(now) // step * step)
    return end - timedelta(weeks=weeks), end


async def run_backtest(
    runbook: Runbook,
    source: MetricsSource,
    environment: str,
    weeks: float,
    now: datetime,
    chunk: timedelta = CHUNK,
) -> Backtested:
    """Fetch the history of every metric the runbook's conditions use and replay them on it."""
    env = runbook.environment(environment)
    if env is None:
        known = ", ".join(e.name for e in runbook.environments)
        raise BacktestRefused(f"The runbook has no environment {environment!r}; it has {known}.")
    start, end = period(runbook, weeks, now)
    chosen, skipped = subjects(runbook, env.name)
    if not chosen:
        raise BacktestRefused(f"No condition of runbook {runbook.id} reads Monitoring in {env.name}; nothing to test.")
    began = wall.perf_counter()
    fetched = await fetch(runbook, source, chosen, env, start, end, chunk)
    fetched_in = wall.perf_counter() - began
    result = backtest(runbook, chosen, fetched.histories, env.name, start, end)
    replayed_in = wall.perf_counter() - began - fetched_in
    timings = {"fetch_seconds": round(fetched_in, 3), "replay_seconds": round(replayed_in, 3)}
    result = replace(result, skipped=tuple(skipped), calls=fetched.reads, points=fetched.points, extra=timings)
    return Backtested(result, fetched.histories)
