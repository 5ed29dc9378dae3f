"""The outbox against a Web API having a bad day, on SQLite and PostgreSQL: 429 with and without
Retry-After, 5xx with HTML and other non-JSON bodies, reset connections, no answer at all. Every
failed try gives its claim back with the error recorded, the background loop lives on, and once
Slack recovers every message is delivered exactly once within 60 s of virtual time.

The real slack_sdk client talks to the fake Web API; the loop runs on the virtual clock and each
pass is awaited (the loop asleep again), never slept for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import VirtualClock
from bot.sim.slack_api import ERROR_PAGE, FakeSlackApi
from bot.slack.delivery.outbox import Outbox
from bot.store.db import create_engine_for
from bot.store.repository import SqlStore
from tests.slack_app.conftest import Slack
from tests.slack_app.test_malformed_requests import logged
from tests.store.conftest import (  # noqa: F401  (fixtures: a migrated, empty database per backend)
    T0,
    database_url,
    migrated_postgres,
    migrated_sqlite_template,
)

POST = "chat.postMessage"
INTERVAL = 30.0  # serve's OUTBOX_INTERVAL_SECONDS
MANY = 10_000  # "until told otherwise"
TEXTS = ["deploy started", "canary at 10%", "rollback ready"]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(T0)


@pytest.fixture
async def store(database_url: str, clock: VirtualClock) -> AsyncIterator[SqlStore]:  # noqa: F811
    made = SqlStore(create_engine_for(database_url), clock)
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi() as fake:
        yield fake


def client_for(api: FakeSlackApi) -> AsyncWebClient:
    """The real client with slack_sdk's connection and 5xx retries, waiting 0 s between tries
    (an in-line rate-limit wait would be wall-clock time; the outbox's own pause is on the clock)."""
    client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
    zero = FixedValueRetryIntervalCalculator(0.0)
    client.retry_handlers = [
        AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=zero),
        AsyncServerErrorRetryHandler(max_retry_count=1, interval_calculator=zero),
    ]
    return client


class Loop:
    """``run_forever`` on the virtual clock, advanced pass by pass."""

    def __init__(self, outbox: Outbox, clock: VirtualClock) -> None:
        self.outbox = outbox
        self.clock = clock
        self.task = asyncio.create_task(outbox.run_forever(INTERVAL))

    async def asleep(self) -> None:
        """Until the pass in progress has finished and the loop sleeps again (bounded poll)."""
        for _ in range(3000):
            if self.clock.sleepers == 1:
                return
            assert not self.task.done(), self.task
            await asyncio.sleep(0.005)
        raise AssertionError("the outbox loop never went back to sleep")

    async def next_pass(self) -> None:
        await self.clock.advance(timedelta(seconds=INTERVAL))
        await self.asleep()

    async def stop(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def errors(store: SqlStore) -> list[str]:
    """The recorded error of every pending message nobody holds a claim on, by dedupe key."""
    return [str(m.last_error) for m in sorted(await store.pending(), key=lambda m: m.dedupe_key)]


async def until_hung(api: FakeSlackApi, count: int) -> None:
    for _ in range(3000):
        if api.hung >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the fake never received the call it was to leave unanswered")


async def test_after_429s_html_pages_resets_and_silence_everything_is_delivered_once_within_60_s_of_recovery(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock
) -> None:
    outbox = Outbox(store, client_for(api), clock)
    api.rate_limit(POST, times=MANY, retry_after=20)
    for n, text in enumerate(TEXTS):
        message = await outbox.send(POST, {"channel": "C1", "text": text}, dedupe_key=f"bad-day-{n}")
        assert message.delivered_at is None
    assert api.call_count(POST) == 1  # the first 429's Retry-After held the other two back
    assert await errors(store) == ["Slack answered ratelimited (Retry-After 20 s)", "None", "None"]

    loop = Loop(outbox, clock)
    try:
        await loop.asleep()  # the first pass falls inside the Retry-After: nothing is tried
        assert api.call_count(POST) == 1

        phases = [
            (lambda: api.rate_limit(POST, times=MANY, retry_after=None), "Slack answered ratelimited (no Retry-After)"),
            (lambda: api.fail(POST, times=MANY, status=500, body=ERROR_PAGE), "Slack answered HTTP 500 without"),
            (
                lambda: api.fail(POST, times=MANY, status=502, body=ERROR_PAGE, content_type="application/json"),
                "Slack answered HTTP 502 without",
            ),
            (lambda: api.fail(POST, times=MANY, status=503, body="upstream down", content_type="text/plain"), "503"),
            (lambda: api.reset(POST, times=MANY), "ClientOSError"),
        ]
        for start_failing, recorded in phases:
            api.recover(POST)
            start_failing()
            await loop.next_pass()
            assert [recorded in e for e in await errors(store)] == [True] * 3, await errors(store)

        api.recover(POST)
        api.hang(POST, times=1)  # the first try of the next pass gets no answer at all
        api.reset(POST, times=MANY)
        await clock.advance(timedelta(seconds=INTERVAL))
        await until_hung(api, 1)
        await loop.next_pass()  # the try is cut off by the clock, the rest of the pass goes on
        assert [("did not answer" in e) or ("ClientOSError" in e) for e in await errors(store)] == [True] * 3
        assert any("did not answer within 30 s" in e for e in await errors(store))
        assert api.calls(POST) == []

        api.recover(POST)
        recovered = clock.now()
        while await store.pending() and clock.now() - recovered <= timedelta(seconds=60):
            await loop.next_pass()
        assert await store.pending() == []
    finally:
        await loop.stop()

    assert sorted(str(c["text"]) for c in api.calls(POST)) == sorted(TEXTS)  # each exactly once
    for n in range(len(TEXTS)):
        delivered = await store.claim(f"bad-day-{n}", "anyone", timedelta(minutes=5))
        assert delivered is None  # delivered: there is nothing left to claim
    assert clock.now() - recovered <= timedelta(seconds=60)


async def test_a_call_slack_never_answers_is_cut_off_by_the_clock_and_its_claim_given_back(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock
) -> None:
    outbox = Outbox(store, client_for(api), clock)
    api.hang(POST)
    sending = asyncio.create_task(outbox.send(POST, {"channel": "C1", "text": "hello"}, dedupe_key="hung"))
    await until_hung(api, 1)
    assert await store.pending() == []  # claimed while the try is open
    await clock.advance(timedelta(seconds=30))
    message = await sending
    assert message.delivered_at is None
    assert await errors(store) == ["Slack did not answer within 30 s"]
    assert await outbox.deliver_pending() == 1
    assert [c["text"] for c in api.calls(POST)] == ["hello"]


async def test_an_ephemeral_that_fails_in_any_shape_is_dropped_without_raising(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock
) -> None:
    outbox = Outbox(store, client_for(api), clock)
    api.fail("chat.postEphemeral", times=2, status=500, body=ERROR_PAGE)
    api.reset("chat.postEphemeral", times=2)
    for n in range(2):
        args = {"channel": "C1", "user": "U1", "text": f"private {n}"}
        message = await outbox.send("chat.postEphemeral", args, dedupe_key=f"eph-{n}")
        assert message.delivered_at is None
    assert await store.pending() == []  # not worth a late delivery: settled as dropped
    assert await outbox.deliver_pending() == 0


SHAPES = {
    "429 with Retry-After": (lambda api: api.rate_limit(POST, MANY, retry_after=20), "ratelimited (Retry-After 20 s)"),
    "429 without Retry-After": (lambda api: api.rate_limit(POST, MANY, retry_after=None), "(no Retry-After)"),
    "500 with an HTML page": (lambda api: api.fail(POST, MANY, 500, body=ERROR_PAGE), "HTTP 500 without"),
    "502 with HTML labelled JSON": (
        lambda api: api.fail(POST, MANY, 502, body=ERROR_PAGE, content_type="application/json"),
        "HTTP 502 without",
    ),
    "503 with a text body": (lambda api: api.fail(POST, MANY, 503, body="down", content_type="text/plain"), "503"),
    "a reset connection": (lambda api: api.reset(POST, MANY), "Connection reset by peer"),
}


@pytest.mark.parametrize("start_failing,recorded", SHAPES.values(), ids=list(SHAPES))
async def test_each_failure_shape_is_recorded_and_its_claim_given_back_at_once(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock, start_failing: Any, recorded: str
) -> None:
    outbox = Outbox(store, client_for(api), clock)
    start_failing(api)
    message = await outbox.send(POST, {"channel": "C1", "text": "hello"}, dedupe_key="shape")
    assert message.delivered_at is None
    [error] = await errors(store)  # listed by pending(): nobody holds a claim on it
    assert recorded in error and len(error) <= 300
    api.recover(POST)
    await clock.advance(timedelta(seconds=20))  # past any Retry-After
    assert await outbox.deliver_pending() == 1
    assert await outbox.deliver_pending() == 0
    assert [c["text"] for c in api.calls(POST)] == ["hello"]


async def test_a_command_is_answered_while_slack_fails_every_lookup_of_who_is_who(slack: Slack) -> None:
    slack.api.fail("usergroups.users.list", MANY, 502, body=ERROR_PAGE, content_type="application/json")
    slack.api.reset("users.info", MANY)
    assert (await slack.command("status", user="U0SAM"))[0] == 200
    [answer] = slack.ephemerals("U0SAM")
    assert "Something went wrong" not in answer and "There is no run in this channel" in answer, answer


async def test_a_database_outage_is_logged_once_when_it_starts_and_once_when_delivery_resumes_without_tracebacks(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(store, client_for(api), clock)
    loop = Loop(outbox, clock)
    try:
        await loop.asleep()
        with logged(caplog) as log:
            store.refusing = "the database cannot be reached or written (connection refused)"
            for _ in range(4):  # two minutes of passes against a store that is out
                await loop.next_pass()
            store.refusing = None
            for _ in range(2):
                await loop.next_pass()
    finally:
        await loop.stop()

    assert [(e["log_level"], e["event"]) for e in log.events] == [
        ("warning", "outbox paused: the database cannot be reached; it resumes by itself"),
        ("info", "outbox delivery resumed: the database answers again"),
    ]
    assert log.tracebacks == [] and log.records == []


async def test_a_cut_off_call_leaves_the_sending_task_with_no_cancel_request_pending(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock
) -> None:
    """The clock cuts a call off by cancelling the sending task, as asyncio.timeout does; the request is
    taken back, so a later timeout or cancel in that task means what it says."""
    outbox = Outbox(store, client_for(api), clock)
    api.hang(POST)

    async def send_then_count() -> int:
        await outbox.send(POST, {"channel": "C1", "text": "cut off"}, dedupe_key="cut-off")
        current = asyncio.current_task()
        assert current is not None
        return current.cancelling()

    sending = asyncio.create_task(send_then_count())
    await until_hung(api, 1)
    await clock.advance(timedelta(seconds=30))
    assert await sending == 0
    assert await errors(store) == ["Slack did not answer within 30 s"]


async def test_a_sender_cancelled_from_outside_is_cancelled_not_timed_out(
    api: FakeSlackApi, store: SqlStore, clock: VirtualClock
) -> None:
    outbox = Outbox(store, client_for(api), clock)
    api.hang(POST)
    sending = asyncio.create_task(outbox.send(POST, {"channel": "C1", "text": "stop"}, dedupe_key="stopped"))
    await until_hung(api, 1)
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert await errors(store) == []  # nothing recorded as Slack's failure
