"""The Go/No-Go health check ``counts: triggers_backtested``: "triggers backtested in the last 7 days
with no red line", read from the summary `ionbot backtest` or `/ion backtest` keeps in the
KeyValueStore (bot/backtest/output.py writes it under ``SUMMARY_KEY``), with the report's link.

No backtest, one older than a week, or one with a red line fails the check; a store that keeps no
settings (a test fake) makes it unknown, never a pass. Each failure says what to do next, on the card.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from bot.engine.context import Context
from bot.engine.gate_counts import Counted, Evidence
from bot.engine.ports import JSON, CheckResult
from bot.runbook.models import Gate, HealthCheck

SUMMARY_KEY = "backtest.latest.{runbook}"
FRESH_FOR = timedelta(days=7)
LABEL = "triggers backtested"
HOW = "run `/ion backtest` (or `ionbot backtest`), then press Re-check"


def red_how(gate: Gate, check: HealthCheck) -> str:
    """What a team does with red lines: the card shows this beside them (CHECK is its number there)."""
    number = next((n for n, c in enumerate(gate.health_checks, 1) if c.label == check.label), 0)
    return (
        "change those thresholds and backtest again, or, as a lead or the manager, answer each line with "
        f"/ion override {gate.id} {number} REASON"
    )


@runtime_checkable
class StoredValues(Protocol):
    async def get_value(self, key: str) -> JSON | None: ...


async def measure(ctx: Context, gate: Gate, check: HealthCheck, now: datetime) -> Evidence:
    store = ctx.store
    if not isinstance(store, StoredValues):
        return Evidence(CheckResult(LABEL, None, None, 0, "the backtest results cannot be read here"))
    summary = await store.get_value(SUMMARY_KEY.format(runbook=ctx.runbook.id))
    if not isinstance(summary, dict) or "at" not in summary:
        return Evidence(CheckResult(LABEL, False, None, 0, f"runbook {ctx.runbook.id} was never backtested; {HOW}"))
    return _judge(ctx, red_how(gate, check), summary, now)


def _judge(ctx: Context, how_red: str, summary: dict[str, Any], now: datetime) -> Evidence:
    at = datetime.fromisoformat(str(summary["at"]))
    link = str(summary.get("link") or "")
    where = f" Report: {link}" if link else ""
    what = (
        f"backtested {ctx.show_time(at)} on {summary.get('environment', '?')}, "
        f"{_number(summary.get('weeks'))} weeks of history, {summary.get('conditions', '?')} conditions"
    )
    if now - at > FRESH_FOR:
        days = (now - at).days
        return Evidence(
            CheckResult(LABEL, False, days, 7, f"{what}: {days} days ago, older than 7 days; {HOW}.{where}")
        )
    reds = [str(r) for r in summary.get("red") or []]
    if not reds:
        return Evidence(CheckResult(LABEL, True, 0, 0, f"{what}: no red line.{where}"))
    counted = tuple(Counted(f"{red} ({link})" if link else red) for red in reds)
    shown = "; ".join(reds[:4]) + (f"; and {len(reds) - 4} more" if len(reds) > 4 else "")
    # The card shows a counted check's detail up to its first ": ", then the lines: say what to do there.
    lines = f"{len(reds)} red line{'s' if len(reds) > 1 else ''}"
    detail = f"{what}, {lines} ({how_red}): {shown}.{where}"
    return Evidence(CheckResult(LABEL, False, len(reds), 0, detail), counted)


def _number(value: object) -> str:
    """2.0 as "2", 0.5 as "0.5"; anything else as it is ("?" when missing)."""
    return f"{value:g}" if isinstance(value, int | float) else str(value or "?")
