"""``ionbot backtest [RUNBOOK] --weeks 4 [--env production] [--out DIR]``: how the runbook's triggers,
gate checks and acceptance criteria would have behaved on the last weeks of metric history.

Writes DIR/backtest.md and DIR/charts/*.png, prints the summary, and keeps the summary in the state
store (ION_DATABASE_URL) for the Go/No-Go gate's "triggers backtested" check. The embedded default
(ION_CLOUD=sim) backtests the simulator's synthetic history; gcp reads Cloud Monitoring.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.runbook.models import Runbook

if TYPE_CHECKING:
    from bot.engine.ports import MetricsSource

DEFAULT_OUT = Path("backtest")


def register_backtest(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("backtest", help="replay the runbook's conditions on the last weeks of metrics")
    parser.add_argument("runbook", nargs="?", type=Path, default=None, help="runbook YAML (default: the default)")
    parser.add_argument("--weeks", type=float, default=4.0, help="how many weeks of history (default 4)")
    parser.add_argument("--env", default="production", help="the environment whose metrics are read")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for backtest.md and charts/")
    parser.set_defaults(handler=run_backtest_command)


def run_backtest_command(args: argparse.Namespace) -> int:
    from bot.config import ConfigError, load_settings, resolve_runbook
    from bot.runbook.errors import RunbookError
    from bot.runbook.loader import default_runbook_path, load_runbook

    path = resolve_runbook(args.runbook or default_runbook_path())
    try:
        runbook = load_runbook(path)
        settings = load_settings()
    except RunbookError as exc:
        _err(f"Cannot load the runbook {path}; nothing was backtested. Run `ionbot check {path}`.")
        for problem in exc.problems:
            _err(str(problem))
        return 1
    except ConfigError as exc:
        _err(f"{exc}".strip() + " Nothing was backtested.")
        return 1
    return asyncio.run(_backtest(runbook, settings.cloud, settings.database_url, args))


async def _backtest(runbook: Runbook, cloud: str, database_url: str, args: argparse.Namespace) -> int:
    from bot.backtest.output import save_summary, write_report
    from bot.backtest.report import summary_text
    from bot.backtest.service import BacktestRefused, run_backtest
    from bot.store.repository import SqlStore
    from bot.store.schema import ensure_schema

    now = datetime.now(UTC)
    try:
        done = await run_backtest(runbook, _source(runbook, cloud, now), args.env, args.weeks, now)
    except BacktestRefused as refused:
        _err(f"{refused} Nothing was backtested.")
        return 1
    except Exception as exc:  # Monitoring refused or failed: one sentence, no traceback
        _err(f"The metric history could not be read: {exc}. Nothing was backtested.")
        return 1
    report = write_report(done, args.out, ZoneInfo(runbook.calendar.timezone))
    try:
        await ensure_schema(database_url)
        store = SqlStore.open(database_url)
        try:
            await save_summary(store, done.result, str(report.resolve()), now)
        finally:
            await store.close()
    except Exception as exc:
        _err(f"The report is in {report}, but its summary could not be saved for the Go/No-Go gate: {exc}.")
        return 1
    print(summary_text(done.result))
    print(f"Report: {report} (charts in {args.out / 'charts'})")
    return 0


def _source(runbook: Runbook, cloud: str, now: datetime) -> MetricsSource:
    """Cloud Monitoring, or the simulator's history as it stood at ``now``."""
    if cloud == "gcp":
        from bot.cloud.monitoring import CloudMonitoringSource

        return CloudMonitoringSource()
    from bot.sim.history import sim_history
    from bot.sim.metrics import StaticWorld, SyntheticMetrics

    world = StaticWorld()
    return sim_history(SyntheticMetrics(world), world, runbook, now)


def _err(text: str) -> None:
    print(text, file=sys.stderr)
