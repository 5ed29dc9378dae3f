"""Peak memory (RSS) of `ionbot simulate` over the whole week: the embedded demo must run on a
small laptop or a 256 MB container, world, state store, charts and all.

The child is reaped with ``wait4``, whose ``ru_maxrss`` is the kernel's own high-water mark of
its resident set: exact, with no polling interval to miss a peak. `ionbot simulate` draws its
charts in its own process; should it start any process of its own (as `serve` does for its
charts), each one's high-water mark (VmHWM) is read every 50 ms, and the target holds for them
all together (the sum of their peaks, at least the week's peak).

    .venv/bin/python bench/memory.py [--runs K] [--days N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from _common import Figure, SimulatedWeek, bench_main, mib, print_report, simulate_week, week_checks

TITLE = "Memory: peak RSS of the simulated week"
TARGET_BYTES = 200_000_000  # 200 MB, the stricter reading (190.7 MiB)


async def run(args: argparse.Namespace) -> None:
    weeks: list[SimulatedWeek] = []
    for _ in range(args.runs):
        workdir = Path(tempfile.mkdtemp(prefix="ionbench-memory-"))
        try:
            weeks.append(await simulate_week(workdir, args.days))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    peak = max(w.peak_rss_bytes for w in weeks)
    together = max(w.peak_rss_bytes + w.helpers_peak_bytes for w in weeks)
    whole = args.days is None
    checks, notes = week_checks(weeks)
    figures = [
        Figure("days simulated", "all" if whole else str(args.days)),
        Figure("runs", str(args.runs)),
        checks,
        Figure("peak RSS of `ionbot simulate` (highest run)", mib(peak)),
        Figure("peak RSS of `ionbot simulate` (lowest run)", mib(min(w.peak_rss_bytes for w in weeks))),
        Figure(
            "peak RSS of the processes it started (its chart process; highest run)",
            mib(max(w.helpers_peak_bytes for w in weeks)),
        ),
        Figure(
            "the most they held at once (VmRSS of both, read every 50 ms; highest run)",
            mib(max(w.tree_peak_bytes for w in weeks)),
        ),
        Figure(
            "the two together (sum of their peaks; highest run)",
            mib(together),
            "< 200 MB" if whole else "",
            together < TARGET_BYTES if whole else None,
        ),
    ]
    notes.append("MiB is 1024 x 1024 bytes, MB 1000 x 1000; the target is held to 200 MB, the smaller of the two.")
    if not whole:
        notes.append("Only part of the week was simulated, so the target does not apply.")
    print_report(TITLE, figures, notes)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="simulated weeks to measure (default 1)")
    parser.add_argument("--days", type=int, default=None, help="stop after day N (smoke tests); default: all")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
