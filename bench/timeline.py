"""How long the web timeline takes to answer for a whole week's run: the issue's "within 300 ms".

A simulated week (`ionbot simulate --database-url`, a child process) fills a fresh SQLite store;
then the bot is built on it, the pages are served on 127.0.0.1 (the console's open local mode) and
each page is fetched K times after one warm-up: the run list, the timeline, a step page, the audit
page, its CSV, and a trigger metric's JSON. Times are request to last byte, measured here.

    .venv/bin/python bench/timeline.py [--days N] [--requests K] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from _common import REPO, BenchError, Figure, bench_main, child_env, ionbot, median, ms, percentile, print_report

from bot import bootstrap
from bot.config import load_settings
from bot.engine.clock import VirtualClock
from bot.web.serving import serve_local

TITLE = "Timeline: pages of a week's run, request to last byte"
TARGET_MS = 300.0  # issue 21
AFTER_THE_WEEK = datetime(2026, 11, 14, 12, 0, tzinfo=UTC)


def fill_store(url: str, days: int | None, workdir: Path) -> None:
    argv = ionbot("simulate", "--database-url", url, *(["--days", str(days)] if days else []))
    with (workdir / "simulate.log").open("wb") as log:
        done = subprocess.run(argv, cwd=REPO, env=child_env({}), stdout=subprocess.DEVNULL, stderr=log, check=False)
    if done.returncode not in (0, 1):  # 1: the week's own check missed something; the store is still full
        raise BenchError(f"`ionbot simulate` exited {done.returncode}; see {workdir / 'simulate.log'}.")


async def timed(session: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    async with session.get(url) as first:  # warm-up: templates compiled, caches filled
        if first.status != 200:
            raise BenchError(f"{url} answered {first.status}: {(await first.text())[:200]}")
        await first.read()
    times = []
    for _ in range(count):
        began = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
        times.append(time.perf_counter() - began)
    return times


async def run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="ionbench-timeline-"))
    try:
        url = args.database_url or f"sqlite+aiosqlite:///{workdir / 'ion.db'}"
        if not args.database_url:
            await asyncio.to_thread(fill_store, url, args.days, workdir)
        bot = await bootstrap.build(load_settings(ION_DATABASE_URL=url), clock=VirtualClock(AFTER_THE_WEEK))
        try:
            runner, port = await serve_local(bootstrap.web_deps(bot, local=True), 0)
            try:
                figures = await measure(f"http://127.0.0.1:{port}", args.requests, len(await bot.store.audit()))
            finally:
                await runner.cleanup()
        finally:
            await bot.close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    notes = [
        f"{args.requests} requests per page after one warm-up, one at a time.",
        "The metric JSON is not part of a page's render: the page's script fetches it afterwards, and its time "
        "is the MetricsSource's (here the sim computing every minute of the week; Cloud Monitoring in production).",
    ]
    print_report(TITLE, figures, notes)


async def measure(base: str, count: int, audit_entries: int) -> list[Figure]:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/runs") as listing:
            found = re.search(r'data-run="([^"]+)"', await listing.text())
        if found is None:
            raise BenchError("the simulated week left no run in the store")
        run = found.group(1)
        pages = {
            "run list": "/runs",
            "timeline": f"/runs/{run}",
            "step page (day2.1)": f"/runs/{run}/steps/day2.1",
            "audit page": f"/runs/{run}/audit",
            "audit CSV": f"/runs/{run}/audit.csv",
        }
        series = f"/runs/{run}/metrics/error_rate.json"
        figures = [Figure("audit entries in the run", str(audit_entries))]
        for name, path in pages.items():
            times = await timed(session, base + path, count)
            p95 = percentile(times, 95)
            figures.append(Figure(f"{name}: median", ms(median(times))))
            figures.append(Figure(f"{name}: p95", ms(p95), f"< {TARGET_MS:.0f} ms", p95 * 1000 < TARGET_MS))
        times = await timed(session, base + series, count)  # fetched by the page's script, after it rendered
        figures.append(Figure("metric JSON (error_rate, read from the sim): median", ms(median(times))))
        figures.append(Figure("metric JSON (error_rate, read from the sim): p95", ms(percentile(times, 95))))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=None, help="simulate only days 1..N (default: the whole week)")
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page (default 20)")
    parser.add_argument("--database-url", default=None, help="a store already holding a run (skips the simulation)")
    return bench_main(TITLE, run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
