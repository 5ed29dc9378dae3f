"""How long a person waits for the bot's answer: send a signed `/ion audit 5` and stop the clock
when the private reply reaches the Slack Web API, next to a Bolt app that acks and replies.

An ack only tells Slack the request arrived; the person sees nothing until the reply is posted.
Each request comes from its own user, so every reply can be matched to its request; N people
at a time each send their next request once the last one is answered. Both servers get the same
requests with 1, 10 and 50 in flight (the target: p99 <= 3x Bolt's at 1 and at 10). They run side by side and
take turns within each level (ionbot, Bolt, Bolt, ionbot), so a change in the machine's load
during the run falls on both.

    .venv/bin/python bench/answer_latency.py [--requests N] [--levels 1,10,50]
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
    ms,
    percentile,
    print_report,
    slack_signature,
    slash_command,
)

SECRET = "bench-secret"
TOKEN = "xoxb-bench"
CHANNEL = "C_BENCH"
TEXT = "audit 5"
REPLY_TIMEOUT = 60.0  # seconds: a reply later than this counts as unanswered
SETTLED_AFTER = 2.0  # seconds: serve's settle (1 s after opening, then the imports in a worker thread)
TITLE = "Answer latency: send to the reply reaching Slack, ionbot serve vs a Bolt app that replies"


@dataclass(frozen=True)
class Level:
    in_flight: int
    seconds: list[float]
    lost: int
    cpu: float | None = None  # the server's CPU seconds over the level (None where /proc cannot tell)

    def p(self, pct: float) -> float:
        return percentile(self.seconds, pct)

    def cpu_per_answer(self) -> float | None:
        return self.cpu / len(self.seconds) if self.cpu is not None and self.seconds else None


def command_body(text: str, user: str) -> str:
    return slash_command(text, user, user.lower(), f"trigger-{user}")


async def send(http: aiohttp.ClientSession, url: str, body: str) -> float:
    """Post one signed request; returns when it was sent (perf_counter), raises on a non-200 ack."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **slack_signature(body, SECRET)}
    sent = time.perf_counter()
    async with http.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise BenchError(f"the server answered {response.status} to a signed `/ion {TEXT}`.")
    return sent


async def level(slack: SlackApiThread, url: str, tag: str, in_flight: int, count: int) -> Level:
    """``count`` requests by ``in_flight`` people at once, each sending the next request only once the
    answer to the last has arrived (a request is in flight from its sending to its answer)."""
    users = [f"U{tag}{in_flight:02d}X{i:04d}" for i in range(count)]
    queue = list(users)
    seconds: list[float] = []
    lost = 0
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def person() -> None:
            nonlocal lost
            while queue:
                user = queue.pop(0)
                reply = slack.expect_reply(user)
                sent = await send(http, url, command_body(TEXT, user))
                try:
                    seconds.append(await asyncio.wait_for(reply, REPLY_TIMEOUT) - sent)
                except TimeoutError:
                    slack.forget(user)
                    lost += 1

        await asyncio.gather(*(person() for _ in range(in_flight)))
    return Level(in_flight, seconds, lost)


TARGET_LEVELS = (1, 10)  # issue 14's target (p99 <= 3x Bolt's) is set at these; 50 in flight is shown beside them
ROUNDS = 2  # turns of each server per level (ionbot, Bolt, Bolt, ionbot): a drift of the load hurts both alike


async def warm(slack: SlackApiThread, server: ServedProcess, tag: str) -> str:
    """Wait until ``server`` answers, send it a few requests (first imports, auth.test); its events URL."""
    await server.wait_healthy(path="/readyz" if tag == "B" else "/healthz")
    url = server.url + "/slack/events"
    await level(slack, url, tag + "W", 1, 10)  # warm up, not measured
    return url


async def measured(slack: SlackApiThread, server: ServedProcess, url: str, tag: str, n: int, count: int) -> Level:
    before = cpu_seconds(server.pid)
    done = await level(slack, url, tag, n, count)
    await asyncio.sleep(0.2)  # the bot's work after the reply (its delivered mark) belongs to the level
    after = cpu_seconds(server.pid)
    used = after - before if before is not None and after is not None else None
    return Level(done.in_flight, done.seconds, done.lost, used)


def pooled(parts: list[Level]) -> Level:
    cpus = [part.cpu for part in parts]
    cpu = None if any(c is None for c in cpus) else sum(c for c in cpus if c is not None)
    seconds = [s for part in parts for s in part.seconds]
    return Level(parts[0].in_flight, seconds, sum(part.lost for part in parts), cpu)


async def measure(
    slack: SlackApiThread, ours: ServedProcess, theirs: ServedProcess, args: argparse.Namespace
) -> tuple[list[Level], list[Level]]:
    """Both servers running side by side; each level is split into ROUNDS turns of each, in the
    order ionbot, Bolt, Bolt, ionbot, so neither gets the machine's quiet or busy moment alone."""
    async with ours, theirs:
        urls = {"B": await warm(slack, ours, "B"), "M": await warm(slack, theirs, "M")}
        servers = {"B": ours, "M": theirs}
        # serve imports the report libraries a second after opening (bot/heap.py): a start-up cost,
        # which bench/startup.py measures; answers are measured after it.
        await asyncio.sleep(SETTLED_AFTER)
        results: dict[str, list[Level]] = {"B": [], "M": []}
        for n in args.levels:
            parts: dict[str, list[Level]] = {"B": [], "M": []}
            share = [args.requests // ROUNDS + (i < args.requests % ROUNDS) for i in range(ROUNDS)]
            for turn, count in enumerate(share):
                order = ("B", "M") if turn % 2 == 0 else ("M", "B")
                for tag in order:
                    parts[tag].append(await measured(slack, servers[tag], urls[tag], f"{tag}{turn}", n, count))
            for tag in results:
                results[tag].append(pooled(parts[tag]))
        return results["B"], results["M"]


def server(name: str, argv: list[str], api_url: str, extra: dict[str, str]) -> ServedProcess:
    port = free_port()
    served = ServedProcess(argv, {}, port, name)
    env = {"ION_HOST": LOOPBACK, "PORT": str(port), "SLACK_API_URL": api_url, "SLACK_BOT_TOKEN": TOKEN}
    env |= {"SLACK_SIGNING_SECRET": SECRET, **extra}
    if name == "ionbot serve":
        env["ION_DATABASE_URL"] = f"sqlite+aiosqlite:///{served.workdir}/ion.db"
    served.env = child_env(env)
    return served


async def run(args: argparse.Namespace) -> None:
    with SlackApiThread() as slack:
        url = slack.api.base_url
        minimal = [PYTHON, str(REPO / "bench" / "minimal_bolt_app.py")]
        bot, bolt = await measure(
            slack,
            server("ionbot serve", ionbot("serve"), url, {}),
            server("Bolt", minimal, url, {"BENCH_REPLY": "1"}),
            args,
        )
    figures = [Figure("requests per level", f"{args.requests} signed `/ion {TEXT}`, each from its own user")]
    for ours, theirs in zip(bot, bolt, strict=True):
        ratio = ours.p(99) / theirs.p(99) if theirs.seconds and ours.seconds else float("inf")
        n = ours.in_flight
        figures += [
            Figure(f"{n} in flight: ionbot p50 / p99", f"{ms(ours.p(50))} / {ms(ours.p(99))}"),
            Figure(f"{n} in flight: Bolt p50 / p99", f"{ms(theirs.p(50))} / {ms(theirs.p(99))}"),
            Figure(
                f"{n} in flight: p99 ratio (ionbot / Bolt)",
                f"{ratio:.2f}",
                *(("<= 3", ratio <= 3) if n in TARGET_LEVELS else ()),
            ),
            Figure(f"{n} in flight: server CPU per answer (ionbot / Bolt)", cpu_figure(ours, theirs)),
            Figure(
                f"{n} in flight: unanswered (ionbot / Bolt)",
                f"{ours.lost} / {theirs.lost}",
                "0 / 0",
                ours.lost + theirs.lost == 0,
            ),
        ]
    notes = [
        "CPU per answer is the server process's user + system time over the level (/proc, 10 ms ticks) "
        "divided by its answers: a steadier figure than the latencies on a shared machine.",
        "The clock starts as the request is sent and stops when chat.postEphemeral for that user reaches "
        "the fake Web API (it records the arrival time on its own thread, in this process, and wakes the "
        "waiting person; nothing polls).",
        "The bot has no run in the channel, so it answers from the database that there is none; ten "
        "requests warm each server up first, then both are left 2 s to settle (serve imports its report "
        "libraries a second after opening: a start-up cost, in bench/startup.py).",
        f"Both servers run at once and each level is measured in {ROUNDS} turns of each, in the order "
        "ionbot, Bolt, Bolt, ionbot; each figure pools its server's turns.",
    ]
    print_report(TITLE, figures, notes)


def cpu_figure(ours: Level, theirs: Level) -> str:
    mine, bolt = ours.cpu_per_answer(), theirs.cpu_per_answer()
    if mine is None or bolt is None:
        return "not measurable here (no /proc)"
    ratio = f" ({mine / bolt:.1f}x)" if bolt else ""
    return f"{ms(mine)} / {ms(bolt)}{ratio}"


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500, help="requests per level (default 500)")
    parser.add_argument("--levels", default="1,10,50", help="requests in flight, comma-separated (default 1,10,50)")
    args = parser.parse_args(argv)
    try:
        args.levels = [int(n) for n in str(args.levels).split(",")]
    except ValueError:
        parser.error("--levels takes whole numbers separated by commas, e.g. 1,10,50")
    if args.requests < 1 or any(n < 1 for n in args.levels):
        parser.error("--requests and every level must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
