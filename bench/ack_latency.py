"""How fast `ionbot serve` acknowledges Slack, next to a Bolt app that does nothing but ack.

Slack retries any request not answered within 3 s, so the ack must not wait for the work.
Both servers run as subprocesses on 127.0.0.1 and get the same signed slash commands and
button clicks at the same concurrency; the time measured is send to HTTP response.

    .venv/bin/python bench/ack_latency.py [--requests N] [--clicks M] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

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
    ms,
    percentile,
    print_report,
    slack_signature,
    slash_command,
)

from bot.sim.slack_api import FakeSlackApi

SECRET = "bench-secret"
TOKEN = "xoxb-bench"
CHANNEL = "C_BENCH"
USER, USER_NAME = "U_LEAD", "lee"
COMMANDS = ("status", "step day2.1", "help")
# The card the clicks tick: the Go/No-Go's boxes are due at once (a step's lists wait for its change).
CARD = "gonogo preflight"
WARM_UP = 10  # requests of each kind before measuring: the first auth.test and imports are not acks
TITLE = "Ack latency: ionbot serve vs a Bolt app that only acks"


@dataclass(frozen=True)
class Request:
    kind: str  # "command" or "click"
    make: Callable[[], str]  # the signed body's form, new each time: Slack gives each press its own trigger id

    @property
    def body(self) -> str:
        return self.make()


@dataclass(frozen=True)
class Sample:
    seconds: list[float]
    errors: int
    wall: float
    slack_calls: int = 0  # Web API calls the fake answered while the requests were being sent

    def p(self, pct: float) -> float:
        return percentile(self.seconds, pct)


TRIGGERS = itertools.count(1)  # Slack gives every command and click its own trigger id

# --- the requests --------------------------------------------------------------------------------


def command_body(text: str) -> str:
    return slash_command(text, USER, USER_NAME, f"trigger-bench-{next(TRIGGERS)}", channel_name="bench-rollout")


def click_body(message_ts: str, blocks: list[dict[str, Any]], block: dict[str, Any], element: dict[str, Any]) -> str:
    """A checklist tick on the Go/No-Go card as Slack sends it: the first item selected."""
    options = element.get("options") or []
    action = {
        "type": element.get("type", "checkboxes"),
        "action_id": element["action_id"],
        "block_id": block.get("block_id"),
        "selected_options": options[:1],
        "action_ts": "1761580800.000001",
    }
    payload = {
        "type": "block_actions",
        "team": {"id": "T0ION"},
        "user": {"id": USER, "username": USER_NAME},
        "channel": {"id": CHANNEL},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": CHANNEL},
        "message": {"ts": message_ts, "blocks": blocks},
        "trigger_id": f"trigger-bench-{next(TRIGGERS)}",
        "actions": [action],
    }
    return urlencode({"payload": json.dumps(payload)})


def mixed(commands: int, clicks: int, click: Callable[[], str]) -> list[Request]:
    """N commands cycling through COMMANDS and M clicks, shuffled the same way every run."""
    requests = [Request("command", partial(command_body, COMMANDS[i % len(COMMANDS)])) for i in range(commands)]
    requests += [Request("click", click) for _ in range(clicks)]
    random.Random(17).shuffle(requests)
    return requests


# --- sending -------------------------------------------------------------------------------------


async def post(http: aiohttp.ClientSession, url: str, body: str) -> tuple[int, float]:
    headers = {"Content-Type": "application/x-www-form-urlencoded", **slack_signature(body, SECRET)}
    began = time.perf_counter()
    async with http.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status, time.perf_counter() - began


async def fire(url: str, requests: Sequence[Request], concurrency: int) -> Sample:
    """Send every request with at most ``concurrency`` in flight; time each one to its response."""
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    seconds: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                request = queue.get_nowait()
                status, took = await post(http, url, request.body)
                seconds.append(took)
                errors += status != 200

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - began
    return Sample(seconds, errors, wall)


async def warm_up(url: str, requests: Sequence[Request]) -> int:
    """A few requests of each kind, one at a time; returns how many were sent."""
    seen: dict[str, int] = {}
    chosen = []
    for request in requests:
        if seen.get(request.kind, 0) < WARM_UP:
            seen[request.kind] = seen.get(request.kind, 0) + 1
            chosen.append(request)
    await fire(url, chosen, 1)
    return len(chosen)


# --- waiting on the fake workspace ---------------------------------------------------------------


async def until(slack: SlackApiThread, question: Any, what: str, server: ServedProcess, timeout: float = 60.0) -> Any:
    """Poll the fake Slack API until ``question(api)`` answers something truthy."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        found = slack.read(question)
        if found:
            return found
        await asyncio.sleep(0.02)
    ephemerals = slack.read(lambda api: [c.get("text") for c in api.calls("chat.postEphemeral")])
    raise BenchError(
        f"the bot did not {what} within {timeout:.0f} s; it answered privately: {ephemerals[-3:]}. "
        f"Its output ends:\n{server.log_tail()}"
    )


def start_confirmed(api: FakeSlackApi) -> str | None:
    for call in api.calls("chat.postEphemeral"):
        text = str(call.get("text", ""))
        if call.get("user") == USER and "started" in text:
            return text
    return None


def tick_card(api: FakeSlackApi) -> tuple[str, list[dict[str, Any]], dict[str, Any], dict[str, Any]] | None:
    """The newest message with a checklist of ticks, as (ts, blocks, block, element)."""
    for (channel, ts), message in reversed(list(api.messages.items())):
        if channel != CHANNEL:
            continue
        blocks = message.get("blocks") or []
        for block in blocks:
            elements = list(block.get("elements") or [])
            if isinstance(block.get("accessory"), dict):
                elements.append(block["accessory"])
            for element in elements:
                if str(element.get("action_id", "")).startswith(("ion:tick", "ion:gate_tick")):
                    return ts, blocks, block, element
    return None


async def settle(slack: SlackApiThread, since: int, expected: int, quiet: float = 10.0, limit: float = 600.0) -> float:
    """Seconds until the bot has made ``expected`` Web API calls since ``since`` (one per request
    answered in Slack), or has made none for ``quiet`` seconds: its background work is done."""
    began = time.perf_counter()
    count, last_change = -1, began
    while time.perf_counter() - began < limit:
        made = slack.read(lambda api: len(api.attempts)) - since
        if made != count:
            count, last_change = made, time.perf_counter()
        if made >= expected or time.perf_counter() - last_change >= quiet:
            break
        await asyncio.sleep(0.02)
    return last_change - began


# --- the two servers -----------------------------------------------------------------------------


def server_env(base_url: str, port: int, extra: dict[str, str]) -> dict[str, str]:
    return child_env(
        {
            "ION_HOST": LOOPBACK,
            "PORT": str(port),
            "SLACK_API_URL": base_url,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            **extra,
        }
    )


def next_monday() -> date:
    """Week 17's Day 1 is a Monday: today if it is one, else the next (a weekend start is refused)."""
    today = datetime.now(ZoneInfo("America/Chicago")).date()
    return today + timedelta(days=(7 - today.weekday()) % 7)


async def bot_sample(
    slack: SlackApiThread, args: argparse.Namespace
) -> tuple[Sample, list[Request], float, Counter[str]]:
    port = free_port()
    server = ServedProcess(ionbot("serve"), {}, port, "ionbot serve")
    server.env = server_env(
        slack.api.base_url, port, {"ION_DATABASE_URL": f"sqlite+aiosqlite:///{server.workdir}/ion.db"}
    )
    async with server:
        # /healthz answers as soon as the port is bound; Slack traffic is accepted once /readyz is 200.
        await server.wait_healthy(path="/readyz")
        url = server.url + "/slack/events"
        await post_once(url, command_body(f"start week17 {next_monday().isoformat()}"))
        await until(slack, start_confirmed, "confirm `/ion start week17`", server)
        await post_once(url, command_body(CARD))
        ts, blocks, block, element = await until(slack, tick_card, f"post the card of /ion {CARD}", server)
        requests = mixed(args.requests, args.clicks, partial(click_body, ts, blocks, block, element))
        before = slack.read(lambda api: len(api.attempts))
        await settle(slack, before, await warm_up(url, requests))
        before = slack.read(lambda api: len(api.attempts))
        sample = await fire(url, requests, args.concurrency)
        during = slack.read(lambda api: len(api.attempts)) - before
        drained = await settle(slack, before, len(requests))
        calls = slack.read(lambda api: Counter(c.method for c in api.attempts[before:]))
    return Sample(sample.seconds, sample.errors, sample.wall, during), requests, drained, calls


async def bolt_sample(slack: SlackApiThread, args: argparse.Namespace, requests: Sequence[Request]) -> Sample:
    port = free_port()
    env = server_env(slack.api.base_url, port, {})
    async with ServedProcess(
        [PYTHON, str(REPO / "bench" / "minimal_bolt_app.py")], env, port, "minimal Bolt app"
    ) as server:
        await server.wait_healthy()
        url = server.url + "/slack/events"
        await warm_up(url, requests)
        return await fire(url, requests, args.concurrency)


async def post_once(url: str, body: str) -> None:
    async with aiohttp.ClientSession() as http:
        status, _ = await post(http, url, body)
    if status != 200:
        raise BenchError(f"the server answered {status} to a signed request; check the signing secret.")


# --- the report ----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    with SlackApiThread() as slack:
        bot, requests, drained, calls = await bot_sample(slack, args)
        bolt = await bolt_sample(slack, args, requests)  # the very same bodies, in the same order
    ratio = bot.p(99) / bolt.p(99)
    total = args.requests + args.clicks
    figures = [
        Figure("requests (commands + clicks)", f"{args.requests} + {args.clicks} at concurrency {args.concurrency}"),
        *(Figure(f"ionbot serve p{p}", ms(bot.p(p))) for p in (50, 95)),
        Figure("ionbot serve p99", ms(bot.p(99)), "< 100 ms (50 concurrent, 2 cores)", bot.p(99) < 0.100),
        *(Figure(f"minimal Bolt p{p}", ms(bolt.p(p))) for p in (50, 95, 99)),
        Figure("p50 ratio (ionbot / Bolt)", f"{bot.p(50) / bolt.p(50):.2f}"),
        Figure("p95 ratio (ionbot / Bolt)", f"{bot.p(95) / bolt.p(95):.2f}"),
        Figure("p99 ratio (ionbot / Bolt)", f"{ratio:.2f}", "<= 1.25", ratio <= 1.25),
        Figure("ionbot serve throughput", f"{total / bot.wall:.0f} req/s"),
        Figure("minimal Bolt throughput", f"{total / bolt.wall:.0f} req/s"),
        Figure(
            "non-200 answers (ionbot / Bolt)", f"{bot.errors} / {bolt.errors}", "0 / 0", bot.errors + bolt.errors == 0
        ),
        Figure("ionbot Web API calls answered during the load", str(bot.slack_calls)),
        Figure("ionbot background work done after last ack", f"{drained:.2f} s"),
        Figure("ionbot Web API calls for that work", ", ".join(f"{m} {n}" for m, n in sorted(calls.items()))),
    ]
    notes = [
        f"Commands cycle through {', '.join('/ion ' + c for c in COMMANDS)}; clicks tick the first checklist "
        f"item of the card of /ion {CARD}. {WARM_UP} of each kind warm each server up first (not measured). "
        "The load generator and the fake Slack Web API share the machine with the server."
    ]
    print_report(TITLE, figures, notes)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="signed slash commands to send (default 600)")
    parser.add_argument("--clicks", type=int, default=200, help="signed button clicks to send (default 200)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight at once (default 50)")
    args = parser.parse_args(argv)
    if args.requests + args.clicks < 1 or args.concurrency < 1:
        parser.error("--requests plus --clicks and --concurrency must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(bench_main(TITLE, run(parse(sys.argv[1:]))))
