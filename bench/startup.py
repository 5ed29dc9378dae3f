"""How long a person waits for the first answer of a new `ionbot serve` process, next to a Bolt
app that acks and replies. Cloud Run starts instances on demand, so a slow start is a slow
first answer: the clock starts at spawn and stops when the private reply to a signed
`/ion help`, sent as soon as the port accepts connections, reaches the Slack Web API.
A `/ion audit 5` sent beside it (it reads the store), the CPU seconds the process had used by
the first answer, /healthz and /readyz are extra rows (a port that answers is not a bot that answers).

Each run is a fresh process with a fresh SQLite file (the embedded default's cold start:
schema created, the simulated world built). Median of K runs each, started alternately.

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
    cpu_seconds,
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
    answered: float  # the `/ion help`
    cpu: float | None  # the process's CPU seconds (user + system) when that answer arrived
    store_read: float | None  # the `/ion audit 5` sent beside it (reads the store), ionbot only
    ready: float | None


async def send_until_taken(server: ServedProcess, http: aiohttp.ClientSession, text: str, user: str) -> None:
    """POST a signed `/ion TEXT`; a 503 from a server that refuses early requests is sent again
    (that wait counts too)."""
    body = slash_command(text, user, user, f"trigger-{user}")
    while True:
        headers = {"Content-Type": "application/x-www-form-urlencoded", **slack_signature(body, SECRET)}
        async with http.post(server.url + "/slack/events", data=body, headers=headers) as response:
            if response.status == 200:
                return
            if response.status != 503:
                raise BenchError(f"{server.name} answered {response.status} to a signed `/ion {text}`.")
        await asyncio.sleep(0.005)


async def answered_at(server: ServedProcess, reply: asyncio.Future[float], text: str) -> tuple[float, float | None]:
    """Seconds from spawn to ``reply`` (the fake Web API's record of the answer), and the server's CPU
    seconds at that moment."""
    try:
        at = await asyncio.wait_for(reply, 60)
    except TimeoutError:
        raise BenchError(f"{server.name} never answered `/ion {text}`; its output ends:\n{server.log_tail()}") from None
    return at - server.started_at, cpu_seconds(server.pid)


async def first_answers(
    server: ServedProcess, slack: SlackApiThread, user: str, *, store_read: bool
) -> tuple[float, float | None, float | None]:
    """Spawn to the reply of a `/ion help` sent at the first moment the port accepts it, with the CPU
    seconds then; with ``store_read``, also to the reply of a `/ion audit 5` sent beside it."""
    commands = {user: "help", **({f"{user}_AUDIT": "audit 5"} if store_read else {})}
    replies = {who: slack.expect_reply(who, method=None) for who in commands}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await asyncio.gather(*(send_until_taken(server, http, text, who) for who, text in commands.items()))
    help_at, cpu = await answered_at(server, replies[user], "help")
    audit_at = (await answered_at(server, replies[f"{user}_AUDIT"], "audit 5"))[0] if store_read else None
    return help_at, cpu, audit_at


async def one_start(server: ServedProcess, slack: SlackApiThread, user: str, *, ours: bool) -> Start:
    async with server:
        healthy = await server.wait_healthy(poll=0.002)
        answered, cpu, store_read = await first_answers(server, slack, user, store_read=ours)
        ready = await server.wait_healthy(path="/readyz") if ours else None
        return Start(healthy, answered, cpu, store_read, ready)


BOT_MODULES = "import bot.bootstrap, bot.slack.app, bot.slack.server"
# What the minimal Bolt app imports, and that plus the libraries every answer of the bot needs
# before it can reply: the state store (SQLAlchemy's asyncio engine, fixed by the user, and the
# SQLite driver), which records each delivery so a redelivered request is never worked twice.
BOLT_MODULES = "import slack_bolt.async_app, slack_bolt.adapter.aiohttp, aiohttp.web, slack_sdk.web.async_client"
STORE_MODULES = f"{BOLT_MODULES}, sqlalchemy.ext.asyncio, aiosqlite"


async def import_time(modules: str) -> float:
    """Seconds for a fresh interpreter to run ``modules`` (import statements) and exit."""
    began = time.perf_counter()
    child = await asyncio.create_subprocess_exec(PYTHON, "-c", modules, cwd=REPO, env=child_env({}))
    if await child.wait() != 0:
        raise BenchError(f"`python -c '{modules}'` failed with exit code {child.returncode}; see its output above.")
    return time.perf_counter() - began


async def run(args: argparse.Namespace) -> None:
    bot: list[Start] = []
    bolt: list[Start] = []
    imports: dict[str, list[float]] = {BOT_MODULES: [], BOLT_MODULES: [], STORE_MODULES: []}
    with SlackApiThread() as slack:
        for i in range(args.runs):  # alternate, so a busy moment of the machine hurts both alike
            ours = _server("ionbot serve", ionbot("serve"), slack.api.base_url)
            bot.append(await one_start(ours, slack, f"U_BOT{i}", ours=True))
            minimal = _server(
                "minimal Bolt app", [PYTHON, str(REPO / "bench" / "minimal_bolt_app.py")], slack.api.base_url
            )
            bolt.append(await one_start(minimal, slack, f"U_BOLT{i}", ours=False))
            for modules, times in imports.items():
                times.append(await import_time(modules))
    answered = [s.answered for s in bot]
    audits = [s.store_read for s in bot if s.store_read is not None]
    bolt_answer = median([s.answered for s in bolt])
    ratio = median(answered) / bolt_answer
    store_extra = median(imports[STORE_MODULES]) - median(imports[BOLT_MODULES])
    figures = [
        Figure("runs of each", str(args.runs)),
        Figure("ionbot serve: first answer, median", secs(median(answered))),
        Figure("ionbot serve: first answer, min / max", f"{secs(min(answered))} / {secs(max(answered))}"),
        Figure("minimal Bolt: first answer, median", secs(median([s.answered for s in bolt]))),
        Figure("first answer ratio (ionbot / Bolt)", f"{ratio:.2f}", "<= 1.5", ratio <= 1.5),
        Figure("ionbot serve: first answer to `/ion audit 5` (sent beside it), median", secs(median(audits))),
        Figure("CPU seconds at the first answer, ionbot / Bolt (medians)", cpu_row(bot, bolt)),
        Figure("ionbot serve: /healthz 200, median", secs(median([s.healthy for s in bot]))),
        Figure("ionbot serve: /readyz 200, median", secs(median([s.ready or 0.0 for s in bot]))),
        Figure("minimal Bolt: /healthz 200, median", secs(median([s.healthy for s in bolt]))),
        Figure("importing the bot, fresh interpreter (median)", secs(median(imports[BOT_MODULES]))),
        Figure("importing Bolt's modules / and the store's libraries (medians)", import_row(imports)),
        Figure(
            "floor of the ratio for any bot that answers through a SQLAlchemy store",
            f"{(bolt_answer + store_extra) / bolt_answer:.2f}",
        ),
    ]
    notes = [
        "The clock starts just before the process is spawned. A signed `/ion help` is sent the moment "
        "/healthz first answers (with a signed `/ion audit 5` from another person beside it); the first "
        "answer is when its chat.postEphemeral reaches the fake Web API. CPU seconds: the server process's "
        "user + system time read from /proc at that moment (the work done, without the waits of a busy machine).",
        "The floor: Bolt's first answer plus only the extra time a fresh interpreter takes to import "
        "sqlalchemy.ext.asyncio and aiosqlite beside Bolt's own modules, over Bolt's first answer. No code "
        "of the bot is in it; every answer records its delivery in the store before it replies.",
    ]
    print_report(TITLE, figures, notes)


def import_row(imports: dict[str, list[float]]) -> str:
    bolt, store = median(imports[BOLT_MODULES]), median(imports[STORE_MODULES])
    return f"{secs(bolt)} / {secs(store)} (+{secs(store - bolt)})"


def cpu_row(bot: list[Start], bolt: list[Start]) -> str:
    ours, theirs = [s.cpu for s in bot if s.cpu is not None], [s.cpu for s in bolt if s.cpu is not None]
    if not ours or not theirs:
        return "not measured (no /proc)"
    return f"{secs(median(ours))} / {secs(median(theirs))} = {median(ours) / median(theirs):.2f}"


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="starts of each server (default 5)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
