"""How long a person waits for the first answer of a new `ionbot serve` process, next to a Bolt
app that acks and replies. Cloud Run starts instances on demand, so a slow start is a slow
first answer: the clock starts at spawn and stops when the private reply to a signed
`/ion help`, sent as soon as the port accepts connections, reaches the Slack Web API.
/healthz and /readyz are extra rows (a port that answers is not a bot that answers).

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
from dataclasses import dataclass

import aiohttp
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
    slack_signature,
    slash_command,
)

SECRET = "bench-secret"

TITLE = "Startup: process start to the first answered command (and to /healthz, /readyz)"


def _server(name: str, argv: list[str], api_url: str) -> ServedProcess:
    port = free_port()
    server = ServedProcess(argv, {}, port, name)
    server.env = child_env(
        {
            "ION_HOST": LOOPBACK,
            "PORT": str(port),
            "SLACK_API_URL": api_url,
            "SLACK_BOT_TOKEN": "xoxb-bench",
            "SLACK_SIGNING_SECRET": SECRET,
            "BENCH_REPLY": "1",
            "ION_DATABASE_URL": f"sqlite+aiosqlite:///{server.workdir}/ion.db",
        }
    )
    return server


@dataclass(frozen=True)
class Start:
    healthy: float
    answered: float
    ready: float | None


async def first_answer(server: ServedProcess, slack: SlackApiThread, user: str) -> float:
    """Seconds from spawn to the reply of a `/ion help` sent at the first moment the port accepts
    it (a 503 from a server that refuses early requests is sent again: that wait counts too)."""
    body = slash_command("help", user, user, f"trigger-{user}")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        while True:
            headers = {"Content-Type": "application/x-www-form-urlencoded", **slack_signature(body, SECRET)}
            async with http.post(server.url + "/slack/events", data=body, headers=headers) as response:
                if response.status == 200:
                    break
                if response.status != 503:
                    raise BenchError(f"{server.name} answered {response.status} to a signed `/ion help`.")
            await asyncio.sleep(0.005)
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        at = slack.read(lambda api: [c.at for c in api.recorded if c.payload.get("user") == user])
        if at:
            return at[0] - server.started_at
        await asyncio.sleep(0.005)
    raise BenchError(f"{server.name} never answered `/ion help`; its output ends:\n{server.log_tail()}")


async def one_start(server: ServedProcess, slack: SlackApiThread, user: str, *, readyz: bool) -> Start:
    async with server:
        healthy = await server.wait_healthy(poll=0.002)
        answered = await first_answer(server, slack, user)
        ready = await server.wait_healthy(path="/readyz") if readyz else None
        return Start(healthy, answered, ready)


async def import_time() -> float:
    """Seconds for a fresh interpreter to import what `ionbot serve` imports before it builds anything."""
    modules = "import bot.bootstrap, bot.slack.app, bot.slack.server"
    began = time.perf_counter()
    child = await asyncio.create_subprocess_exec(PYTHON, "-c", modules, cwd=REPO, env=child_env({}))
    if await child.wait() != 0:
        raise BenchError(f"`python -c '{modules}'` failed with exit code {child.returncode}; see its output above.")
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> None:
    bot: list[Start] = []
    bolt: list[Start] = []
    imports: list[float] = []
    with SlackApiThread() as slack:
        for i in range(args.runs):  # alternate, so a busy moment of the machine hurts both alike
            ours = _server("ionbot serve", ionbot("serve"), slack.api.base_url)
            bot.append(await one_start(ours, slack, f"U_BOT{i}", readyz=True))
            minimal = _server(
                "minimal Bolt app", [PYTHON, str(REPO / "bench" / "minimal_bolt_app.py")], slack.api.base_url
            )
            bolt.append(await one_start(minimal, slack, f"U_BOLT{i}", readyz=False))
            imports.append(await import_time())
    answered = [s.answered for s in bot]
    ratio = median(answered) / median([s.answered for s in bolt])
    figures = [
        Figure("runs of each", str(args.runs)),
        Figure("ionbot serve: first answer, median", secs(median(answered))),
        Figure("ionbot serve: first answer, min / max", f"{secs(min(answered))} / {secs(max(answered))}"),
        Figure("minimal Bolt: first answer, median", secs(median([s.answered for s in bolt]))),
        Figure("first answer ratio (ionbot / Bolt)", f"{ratio:.2f}", "<= 1.5", ratio <= 1.5),
        Figure("ionbot serve: /healthz 200, median", secs(median([s.healthy for s in bot]))),
        Figure("ionbot serve: /readyz 200, median", secs(median([s.ready or 0.0 for s in bot]))),
        Figure("minimal Bolt: /healthz 200, median", secs(median([s.healthy for s in bolt]))),
        Figure("importing the bot, fresh interpreter (median)", secs(median(imports))),
    ]
    notes = [
        "The clock starts just before the process is spawned. A signed `/ion help` is sent the moment "
        "/healthz first answers; the first answer is when its chat.postEphemeral reaches the fake Web API."
    ]
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
