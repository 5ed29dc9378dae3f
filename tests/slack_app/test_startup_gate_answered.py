"""Issue 14: serve starts its jobs (and imports what they need) only once the requests that came
while it was starting are answered, and that wait neither cancels their work nor lasts forever."""

from __future__ import annotations

import asyncio

from bot.slack.transport.startup_gate import StartupGate


async def test_with_no_request_before_the_bot_opened_nothing_is_waited_for() -> None:
    gate = StartupGate("secret")
    await asyncio.wait_for(gate.answered(set, within=60), 5)


async def test_the_wait_lasts_until_the_early_request_is_answered_and_then_until_its_queued_work_is_done() -> None:
    gate = StartupGate("secret")
    entered, answer, work_done = asyncio.Event(), asyncio.Event(), asyncio.Event()
    said: list[str] = []
    queued: set[asyncio.Task[None]] = set()

    async def early_request() -> None:
        with gate.early():
            entered.set()
            await answer.wait()
            said.append("acked")
            queued.add(asyncio.create_task(work()))

    async def work() -> None:
        await work_done.wait()
        said.append("answered")

    request = asyncio.create_task(early_request())
    await entered.wait()
    waiting = asyncio.create_task(gate.answered(lambda: queued, within=60))
    answer.set()
    await request
    assert said == ["acked"] and not waiting.done()
    work_done.set()
    await asyncio.wait_for(waiting, 5)
    assert said == ["acked", "answered"]


async def test_past_its_bound_the_wait_ends_and_the_request_goes_on_uncancelled() -> None:
    gate = StartupGate("secret")
    entered, answer = asyncio.Event(), asyncio.Event()

    async def early_request() -> str:
        with gate.early():
            entered.set()
            await answer.wait()
            return "answered"

    request = asyncio.create_task(early_request())
    await entered.wait()
    await asyncio.wait_for(gate.answered(set, within=0), 5)
    assert not request.done()
    answer.set()
    assert await request == "answered"
