"""Where a backtest goes: a folder with the Markdown report and its charts, and a summary kept in the
KeyValueStore for the Go/No-Go gate's "triggers backtested" check (no migration: one JSON value)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.backtest.charts import metric_charts
from bot.backtest.report import markdown, summary_text
from bot.backtest.run import Result
from bot.backtest.service import Backtested
from bot.engine.backtest_check import SUMMARY_KEY
from bot.engine.ports import JSON, KeyValueStore

KEY = SUMMARY_KEY  # the gate check reads it (bot/engine/backtest_check.py)
REPORT_NAME = "backtest.md"


def summary(result: Result, link: str, at: datetime) -> dict[str, JSON]:
    """What the gate check reads: when, over what, the red lines, and where the report is."""
    return {
        "runbook": result.runbook_id,
        "environment": result.environment,
        "at": at.isoformat(),
        "start": result.start.isoformat(),
        "end": result.end.isoformat(),
        "weeks": result.weeks,
        "conditions": len(result.lines),
        "red": [reason for line in result.red() for reason in line.verdict.reasons[:1]],
        "red_conditions": [line.subject.text for line in result.red()],
        "link": link,
        "text": summary_text(result),
    }


async def save_summary(kv: KeyValueStore, result: Result, link: str, at: datetime) -> dict[str, JSON]:
    stored = summary(result, link, at)
    await kv.put_value(KEY.format(runbook=result.runbook_id), stored)
    return stored


async def latest_summary(kv: KeyValueStore, runbook_id: str) -> dict[str, Any] | None:
    value = await kv.get_value(KEY.format(runbook=runbook_id))
    return value if isinstance(value, dict) else None


def render(done: Backtested, zone: ZoneInfo) -> tuple[str, dict[str, bytes]]:
    """The Markdown (charts linked as charts/<metric>.png) and the PNGs by file name."""
    pngs = {f"{metric}.png": png for metric, png in metric_charts(done.result, done.histories).items()}
    links = {name.removesuffix(".png"): f"charts/{name}" for name in pngs}
    return markdown(done.result, links, zone), pngs


def write_report(done: Backtested, out: Path, zone: ZoneInfo) -> Path:
    """``out``/backtest.md and ``out``/charts/*.png; the report's path."""
    text, pngs = render(done, zone)
    (out / "charts").mkdir(parents=True, exist_ok=True)
    for name, png in pngs.items():
        (out / "charts" / name).write_bytes(png)
    path = out / REPORT_NAME
    path.write_text(text, encoding="utf-8")
    return path
