"""A PostgreSQL server stopped and started again under a running bot: people still hear why
nothing happens (a command, a click, a dialog), /readyz says 503 while writes fail, and the bot
comes back by itself, with the step that was soaking through the outage still watched,
heartbeating and verified."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from bot.engine.records import ExecutionState, StepState
from bot.slack.delivery.outage import KNOWN_DOWN, MET_HALF_WAY
from tests.outage.conftest import ServedBot, until
from tests.outage.pg_cluster import StoppableCluster
from tests.slack_app.conftest import CHANNEL

TYPED = {"confirm_name": {"ion:typed_name": {"type": "plain_text_input", "value": "demo-api"}}}


async def soaking(served: ServedBot) -> str:
    """Start the run and day1.1 on staging; returns its execution id once it is in its verification window."""
    store = served.bot.store
    await served.command("start slacktest", "start")
    await until(lambda: _has_run(served), "the run started")
    await served.command("step day1.1", "card")
    await until(lambda: _posted(served, "Step day1.1"), "the step card was posted")
    await served.command("run day1.1 staging", "run")

    async def verifying() -> bool:
        run = await store.open_run(CHANNEL)
        lane = await store.get_lane(run.id, "day1.1", "staging") if run else None
        return lane is not None and lane.state is StepState.VERIFYING and served.clock.sleepers > 0

    await until(verifying, "day1.1 on staging entered its verification window")
    run = await store.open_run(CHANNEL)
    assert run is not None
    lane = await store.get_lane(run.id, "day1.1", "staging")
    assert lane is not None and lane.last_execution_id is not None
    return lane.last_execution_id


async def _has_run(served: ServedBot) -> bool:
    return await served.bot.store.open_run(CHANNEL) is not None


async def _posted(served: ServedBot, text: str) -> bool:
    return any(text in str(m.get("text", "")) for m in served.api.messages.values())


def _card_ts(served: ServedBot) -> str:
    found = [ts for (_, ts), m in served.api.messages.items() if "Step day1.1" in str(m.get("text", ""))]
    return found[-1]


async def test_a_postgresql_server_stopped_and_restarted_under_a_running_bot_answers_people_and_recovers_by_itself(
    served: ServedBot, cluster: StoppableCluster
) -> None:
    execution_id = await soaking(served)
    await served.clock.advance(timedelta(minutes=5))
    assert await served.readyz() == 200

    async def quiet() -> bool:  # the health watch and the soak both asleep: no probe in flight
        return served.clock.sleepers == 2

    await until(quiet, "the health watch and the soaking step were asleep on the clock")
    cluster.stop()
    # Not known yet: the command is acked, its work meets the outage, and the answer goes by response_url.
    status, body = await served.command("status", "first")
    assert (status, body) == (200, "")
    assert (await answer(served, "first"))["text"] == MET_HALF_WAY
    assert await served.readyz() == 503
    # Known now: a command's answer is in its ack; a click's goes to its response_url.
    assert served.bot.health is not None and served.bot.health.known_down
    status, body = await served.command("status", "second")
    assert status == 200 and json.loads(body)["text"] == KNOWN_DOWN
    status, _ = await served.click(_card_ts(served), "ion:run:production", "click")
    assert status == 200
    assert (await answer(served, "click"))["text"] == KNOWN_DOWN
    status, body = await served.submit("ion:confirm_run", TYPED)  # and a dialog's, in the dialog itself
    assert status == 200 and json.loads(body)["response_action"] == "update"
    assert json.loads(body)["view"]["blocks"][0]["text"]["text"] == KNOWN_DOWN
    await served.clock.advance(timedelta(minutes=4))  # heartbeats and readings fail; the lease is left stale
    assert await served.readyz() == 503

    cluster.start()
    await served.clock.advance(timedelta(seconds=5))  # the health watch's next probe
    await until(lambda: _ready(served), "/readyz said 200 after the database came back")
    status, body = await served.command("status", "after")
    assert (status, body) == (200, "")

    store = served.bot.store
    back = served.clock.now()
    await served.clock.advance(timedelta(seconds=45))  # the lease's next beat (one every 40 s)

    async def beating() -> bool:
        execution = await store.get_execution(execution_id)
        return execution is not None and execution.heartbeat_at is not None and execution.heartbeat_at >= back

    await until(beating, "the soaking execution's heartbeat was renewed after the outage")
    await served.clock.advance(timedelta(minutes=25))  # to the end of the 30-minute window

    async def verified() -> bool:
        execution = await store.get_execution(execution_id)
        return execution is not None and execution.state is ExecutionState.SUCCEEDED

    await until(verified, "the soaking step's verification finished after the outage")
    assert await store.unfinished_executions() == []


async def answer(served: ServedBot, reply_to: str) -> dict[str, Any]:
    """The first message the bot posted to the response_url ``reply_to`` (a bounded wait)."""

    async def posted() -> bool:
        return bool(served.api.responses_to(reply_to))

    await until(posted, f"an answer arrived at the response_url {reply_to}")
    return served.api.responses_to(reply_to)[0]


async def _ready(served: ServedBot) -> bool:
    return await served.readyz() == 200
