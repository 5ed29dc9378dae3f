"""The simulated lead's answer to the backtest's red lines: each line's known cause in the sim's
history, or no override at all when a line has none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.runbook.loader import load_runbook
from bot.sim.history import demo_faults
from bot.simulate.backtest_story import answer, backtest_check
from bot.simulate.script import Backtest, PlayGate, week_script
from tests.e2e.scenario import RUNBOOK

CHICAGO = ZoneInfo("America/Chicago")
START = datetime(2026, 11, 2, 7, 30, tzinfo=CHICAGO)
KNOWN = demo_faults(START, CHICAGO)


def summary(*red: str, weeks: int = 3) -> dict[str, object]:
    end = START.astimezone(UTC)
    return {"red_conditions": list(red), "start": (end - timedelta(weeks=weeks)).isoformat(), "end": end.isoformat()}


def test_each_red_line_is_answered_with_its_known_cause_and_what_the_team_does() -> None:
    reason = answer(
        summary("p95_latency_ms > 100 for 5m", "db_replication_lag_ms < 100", "p95_latency_ms <= baseline over 24h"),
        KNOWN,
        CHICAGO,
    )
    assert reason == (
        "Red lines known: p95_latency_ms > 100 for 5m and p95_latency_ms <= baseline over 24h: batch job, "
        "every Monday 09:00-09:20; db_replication_lag_ms < 100: lag exporter down for a day, Wed 21 Oct 00:00. "
        "Thresholds kept, on-call briefed."
    )


def test_a_red_line_without_a_known_cause_in_the_period_is_not_overridden() -> None:
    assert answer(summary("db_cpu_pct > 70 for 10m"), KNOWN, CHICAGO) is None
    # the lag exporter was down 12 days before the start: a one-week backtest cannot blame it
    assert answer(summary("db_replication_lag_ms < 100", weeks=1), KNOWN, CHICAGO) is None
    assert answer(summary(), KNOWN, CHICAGO) is None  # no red line: nothing to answer


def test_the_week_script_backtests_before_the_preflight_and_only_there() -> None:
    runbook = load_runbook(RUNBOOK)
    acts = week_script(runbook)
    backtests = [i for i, act in enumerate(acts) if isinstance(act, Backtest)]
    preflight = acts.index(PlayGate("preflight"))
    assert len(backtests) == 1 and backtests[0] < preflight
    assert [g.id for g in runbook.gates if backtest_check(g)] == ["preflight"]
