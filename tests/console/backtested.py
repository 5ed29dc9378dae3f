"""A real backtest of the sim's last day, kept for the preflight's "triggers backtested" check, for
tests about another check: that day is inside the history's quiet days, so it has no red line."""

from __future__ import annotations

from bot.backtest.output import save_summary
from bot.backtest.service import run_backtest
from bot.bootstrap_console import ConsoleSession


async def backtested_clean(session: ConsoleSession) -> None:
    bot = session.bot
    now = bot.clock.now()
    done = await run_backtest(bot.runbook, bot.metrics, "production", 1 / 7, now)
    assert not done.result.red(), [line.subject.text for line in done.result.red()]
    await save_summary(bot.store, done.result, "backtest.md", now)
