"""How long `ionbot serve` takes from process start to its first /healthz 200, next to a Bolt app
that only acks. Cloud Run starts instances on demand, so a slow start is a slow first answer.

Each run is a fresh process with a fresh SQLite file (the embedded default's cold start:
schema created, the simulated world seeded). Median of K runs each, started alternately.

    .venv/bin/python bench/startup.py [--runs K]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from _common import (
    LOOPBACK,
    PYTHON,
    REPO,
    BenchError,
    Figure,
    ServedProcess,
    SlackApiThread,
    bench_main,
    child_env,
    free_port,
    ionbot,
    median,
    print_report,
    secs,
)

TITLE = "Startup: process start to the first /healthz 200"


def _server(name: str, argv: list[str], api_url: str) -> ServedProcess:
    port = free_port()
    server = ServedProcess(argv, {}, port, name)
    server.env = child_env(
        {
            "ION_HOST": LOOPBACK,
            "PORT": str(port),
            "SLACK_API_URL": api_url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": "bench-secret",
            "ION_DATABASE_URL": f"sqlite+aiosqlite:///{server.workdir}/ion.db",
        }
    )
    return server


async def time_to_healthy(server: ServedProcess) -> float:
    async with server:
        return await server.wait_healthy()


async def import_time() -> float:
    """Seconds for a fresh interpreter to import what `ionbot serve` imports before it builds anything."""
    modules = "import bot.bootstrap, bot.slack.app, bot.slack.server"
    began = time.perf_counter()
    child = await asyncio.create_subprocess_exec(PYTHON, "-c", modules, cwd=REPO, env=child_env({}))
    if await child.wait() != 0:
        raise BenchError(f"`python -c '{modules}'` failed with exit code {child.returncode}; see its output above.")
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> None:
    bot: list[float] = []
    bolt: list[float] = []
    imports: list[float] = []
    with SlackApiThread() as slack:
        for _ in range(args.runs):  # alternate, so a busy moment of the machine hurts both alike
            bot.append(await time_to_healthy(_server("ionbot serve", ionbot("serve"), slack.api.base_url)))
            minimal = [PYTHON, str(REPO / "bench" / "minimal_bolt_app.py")]
            bolt.append(await time_to_healthy(_server("minimal Bolt app", minimal, slack.api.base_url)))
            imports.append(await import_time())
    ratio = median(bot) / median(bolt)
    figures = [
        Figure("runs of each", str(args.runs)),
        Figure("ionbot serve median", secs(median(bot))),
        Figure("ionbot serve min / max", f"{secs(min(bot))} / {secs(max(bot))}"),
        Figure("importing the bot, fresh interpreter (median)", secs(median(imports))),
        Figure("minimal Bolt median", secs(median(bolt))),
        Figure("minimal Bolt min / max", f"{secs(min(bolt))} / {secs(max(bolt))}"),
        Figure("median ratio (ionbot / Bolt)", f"{ratio:.2f}", "<= 1.5", ratio <= 1.5),
    ]
    notes = ["The clock starts just before the process is spawned and stops at the first 200 from /healthz."]
    print_report(TITLE, figures, notes)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="starts of each server (default 5)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
