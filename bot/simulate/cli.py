"""``ionbot simulate``: the whole week on a virtual clock, as the demo team, then a check that it all happened.

The default start is Monday 2 November 2026 at 07:30 (runbook time zone): before the first
job of Day 1 (the Asia standup is 22:00 in Singapore, 08:00 in Chicago), so every report and
digest of the week is due while the run is open, and two runs print the same transcript.
Exit 0 when everything the runbook asked for happened; 1 with the list of what did not.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.bootstrap_console import ConsoleSession
from bot.config import load_settings
from bot.console.runner import Printer, run_safely
from bot.console.session import ConsoleError, Output, SessionOptions
from bot.heap import freeze_startup_heap
from bot.reports.chart_process import CHART_MODULES
from bot.reports.chart_worker import draw_charts_here, shared_worker
from bot.runbook.loader import load_runbook
from bot.simulate.runner import WeekRunner
from bot.simulate.script import extra_team, team_for, week_script
from bot.simulate.transcript import Transcript
from bot.simulate.verify import Expectations, fault_steps, problems

DEFAULT_START = date(2026, 11, 2)
START_AT = time(7, 30)
WATCH_EVERY = 15  # poll every 15 watch intervals (15 min); within 30 min of a fault, every interval
WATCH_HOURS = (time(7, 0), time(19, 0))  # the team's day; nights are quiet in the sim world


def _monday(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; write it like 2026-11-02") from None


@dataclass
class Outcome:
    """What a simulation did and what it missed (``problems`` empty: everything happened)."""

    problems: list[str]
    summary: str
    written: list[Path] = field(default_factory=list)


async def simulate(
    *,
    start_date: date = DEFAULT_START,
    days: int | None = None,
    faults: tuple[str, ...] = (),
    out: Path | None = None,
    database_url: str | None = None,
    show: Callable[[str, str, list[Output]], None] | None = None,
) -> Outcome:
    """Play the week (up to ``days``) and check it; raises ConsoleError for options that cannot work.

    Its charts are drawn in this process, on the chart worker's thread (``draw_charts_here``: the
    demo's memory), which is stopped when the week is over."""
    draw_charts_here()
    try:
        return await _simulate(start_date, days, faults, out, database_url, show)
    finally:
        shared_worker().shutdown()


async def _simulate(
    start_date: date,
    days: int | None,
    faults: tuple[str, ...],
    out: Path | None,
    database_url: str | None,
    show: Callable[[str, str, list[Output]], None] | None,
) -> Outcome:
    settings = load_settings()
    runbook = load_runbook(settings.runbook)
    zone = ZoneInfo(runbook.calendar.timezone)
    last = runbook.calendar.working_days if days is None else days  # --days 0 is refused, not "all"
    if not 1 <= last <= runbook.calendar.working_days:
        raise ConsoleError(f"--days must be 1 to {runbook.calendar.working_days}, not {last}.")
    start = datetime.combine(start_date, START_AT, zone)
    files = out / "files" if out is not None else Path(tempfile.mkdtemp(prefix="ionbot-simulate-"))
    options = SessionOptions(
        start=start,
        user="lee",
        faults=faults,
        run_start=start_date,
        watch_every=WATCH_EVERY,
        watch_hours=WATCH_HOURS,
        extra_team=extra_team(runbook),
        database_url=database_url,
        files_dir=files,
    )
    transcript = Transcript(team_for(runbook))
    try:
        async with ConsoleSession(options) as session:
            runner = WeekRunner(session, transcript, show)
            await runner.play(week_script(runbook, last), start)
            expect = Expectations(last, fault_steps(faults), faulted=bool(faults))
            found = await problems(session, runner.played, expect)
            written = transcript.write(out, session.api, session.job_log, zone) if out is not None else []
            end = session.local_now()
            calls = len(session.api.recorded)
    finally:
        if out is None:
            shutil.rmtree(files, ignore_errors=True)
    summary = (
        f"Simulated days 1-{last} ({start_date} to {end:%a %d %b %H:%M %Z}, times in {zone.key}); "
        f"the bot made {calls} Web API calls."
    )
    return Outcome(found, summary, written)


async def simulate_main(args: argparse.Namespace) -> int:
    printer = Printer(sys.stdout, as_json=False, color=sys.stdout.isatty()) if args.verbose else None

    def show(prompt: str, line: str, outputs: list[Output]) -> None:
        if printer is not None:
            printer.echo(prompt, line)
            printer.show(outputs)

    outcome = await simulate(
        start_date=args.start,
        days=args.days,
        faults=tuple(args.fault or ()),
        out=args.out,
        database_url=args.database_url,
        show=show,
    )
    if args.out is not None:
        print(f"Wrote {len(outcome.written)} files to {args.out}.", file=sys.stderr)
    print(outcome.summary, file=sys.stderr)
    if outcome.problems:
        print(f"{len(outcome.problems)} thing(s) the runbook asked for did not happen:", file=sys.stderr)
        for problem in outcome.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print("Everything the runbook asked for happened.", file=sys.stderr)
    return 0


def run_simulate(args: argparse.Namespace) -> int:
    # Drawn every day of the week, in this process: imported before the freeze, so their objects are frozen too.
    freeze_startup_heap(CHART_MODULES)
    return run_safely(simulate_main(args))


def register_simulate(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("simulate", help="play the runbook's week on a virtual clock, as the demo team")
    parser.add_argument(
        "--fault",
        action="append",
        metavar="FAULT",
        help='inject a metric fault, e.g. "error_rate_pct 2.5 after day2.1 for 10m" (repeatable)',
    )
    parser.add_argument("--days", type=int, default=None, metavar="N", help="stop after day N (default: all)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR", help="write transcript, calls, reports, files")
    parser.add_argument(
        "--start", type=_monday, default=DEFAULT_START, metavar="DATE", help="day 1 (default 2026-11-02, a Monday)"
    )
    parser.add_argument("--database-url", default=None, help="state store (default: a fresh temporary SQLite file)")
    parser.add_argument("-v", "--verbose", action="store_true", help="draw the conversation while it plays")
    parser.set_defaults(handler=run_simulate)


__all__ = ["register_simulate", "run_simulate"]
