"""The Go/No-Go check "triggers backtested in the last 7 days with no red line" reads the summary the
backtest stored (the whole bot on the sim profile, a real SQLite store, the virtual clock)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.backtest.output import save_summary, summary
from bot.backtest.service import run_backtest
from bot.bootstrap import build
from bot.engine.backtest_check import SUMMARY_KEY
from bot.engine.clock import VirtualClock
from bot.engine.records import HealthResult
from bot.runbook.loader import load_runbook
from bot.runbook.models import HealthCheck
from tests.e2e.scenario import CHANNEL, PREFLIGHT, RUN_START, RUNBOOK, T0, lee, settings_for

LABEL = "Triggers backtested in the last 7 days with no red line"


def runbook_with_the_check():  # type: ignore[no-untyped-def]
    book = load_runbook(RUNBOOK)
    gates = [
        g.model_copy(update={"health_checks": [HealthCheck(label=LABEL, counts="triggers_backtested")]})
        if g.id == PREFLIGHT
        else g
        for g in book.gates
    ]
    return book.model_copy(update={"gates": gates})


async def test_the_gate_check_fails_without_a_backtest_passes_on_a_fresh_clean_one_and_lists_red_lines(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(T0 - timedelta(hours=1))
    bot = await build(
        settings_for(f"sqlite+aiosqlite:///{tmp_path / 'ion.db'}"),
        clock=clock,
        runbook=runbook_with_the_check(),
        run_start=RUN_START,
    )
    try:
        await bot.rollout.start_run(CHANNEL, RUN_START, lee)

        async def measured() -> HealthResult:
            view = await bot.rollout.gate_check_health(CHANNEL, PREFLIGHT, lee)
            [result] = view.record.health
            return result

        never = await measured()
        assert never.passed is False
        assert (
            "week17 was never backtested; run `/ion backtest` (or `ionbot backtest`), then press Re-check"
            in never.detail
        )

        # a day of the sim's history just before now: inside the quiet days, so no red line
        done = await run_backtest(bot.runbook, bot.metrics, "production", 1 / 7, clock.now())
        assert not done.result.red()
        await save_summary(bot.store, done.result, "https://files.example/backtest.md", clock.now())
        clean = await measured()
        assert clean.passed is True
        assert "no red line. Report: https://files.example/backtest.md" in clean.detail

        red_line = (
            "p95_latency_ms > 100 for 5m would have fired 4 times in 4 weeks, every Monday 09:05-09:30: a batch job?"
        )
        stored = summary(done.result, "https://files.example/backtest.md", clock.now())
        await bot.store.put_value(SUMMARY_KEY.format(runbook="week17"), {**stored, "red": [red_line]})
        red = await measured()
        assert red.passed is False and red_line in red.detail
        # the card shows the detail up to its first ": ": what to do with the lines is said there
        assert red.detail.split(": ", 1)[0].endswith(
            "1 red line (change those thresholds and backtest again, or, as a lead or the manager, "
            "answer each line with /ion override preflight 1 REASON)"
        )
        assert red.counted == [{"text": f"{red_line} (https://files.example/backtest.md)"}]

        await clock.advance(timedelta(days=8))
        await bot.store.put_value(SUMMARY_KEY.format(runbook="week17"), stored)
        stale = await measured()
        assert stale.passed is False and "8 days ago, older than 7 days; run `/ion backtest`" in stale.detail

        week_old = {**stored, "at": (clock.now() - timedelta(days=7)).isoformat()}
        await bot.store.put_value(SUMMARY_KEY.format(runbook="week17"), week_old)
        assert (await measured()).passed is True  # "in the last 7 days": a backtest 7 days old still counts
    finally:
        await bot.close()
