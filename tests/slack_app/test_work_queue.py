"""The work queue: Slack gets its ack at once, the work after it runs in bounded slots, and the
commands of one channel run in the order they came."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import pytest
from slack_bolt.async_app import AsyncAck

from bot.slack.transport.work_queue import WorkQueue


class Tasks:
    """Keeps the queue's background work, as AppState.spawn does, so a test can wait for it."""

    def __init__(self) -> None:
        self.running: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return task

    async def settle(self) -> None:
        while self.running:
            await asyncio.gather(*list(self.running))


def acker() -> AsyncAck:
    return AsyncAck()  # type: ignore[no-untyped-call]


async def test_an_ack_goes_out_while_every_work_slot_is_busy_and_its_work_waits_for_a_slot() -> None:
    tasks = Tasks()
    queue = WorkQueue(tasks.spawn, workers=1)
    release = asyncio.Event()
    done: list[str] = []

    async def slow(ack: AsyncAck) -> None:
        await ack()
        await release.wait()
        done.append("slow")

    async def quick(ack: AsyncAck) -> None:
        await ack("on it")
        done.append("quick")

    first, second = acker(), acker()
    await queue.dispatch(first, slow)
    await queue.dispatch(second, quick)

    assert first.response is not None and second.response is not None
    assert second.response.body == "on it"
    assert (queue.busy, done) == (1, [])
    release.set()
    await tasks.settle()
    assert (queue.busy, done) == (0, ["slow", "quick"])


async def test_the_commands_of_one_channel_run_in_arrival_order_and_other_channels_do_not_wait() -> None:
    tasks = Tasks()
    queue = WorkQueue(tasks.spawn, workers=4)
    gate = asyncio.Event()
    order: list[str] = []
    other_channel_done = asyncio.Event()

    def listener(name: str, wait: bool) -> Any:
        async def run(ack: AsyncAck) -> None:
            await ack()
            if wait:
                await gate.wait()
            order.append(name)
            if name == "b1":
                other_channel_done.set()

        return run

    await queue.dispatch(acker(), listener("a1", True), order_key="A")
    await queue.dispatch(acker(), listener("a2", False), order_key="A")
    await queue.dispatch(acker(), listener("b1", False), order_key="B")
    await other_channel_done.wait()
    assert order == ["b1"]  # a2 waits behind a1, b1 does not
    gate.set()
    await tasks.settle()
    assert order == ["b1", "a1", "a2"]


async def test_a_step_command_waits_for_a_run_command_sent_before_it_and_other_steps_do_not() -> None:
    """`/ion start` then `/ion step day1.1` at once: the step must not find no run; day1.2 waits too,
    for the start, and a later `/ion hold` waits for both steps."""
    tasks = Tasks()
    queue = WorkQueue(tasks.spawn, workers=4)
    gates = {name: asyncio.Event() for name in ("start", "day1.1", "day1.2")}
    order: list[str] = []

    def listener(name: str) -> Any:
        async def run(ack: AsyncAck) -> None:
            await ack()
            if name in gates:
                await gates[name].wait()
            order.append(name)

        return run

    await queue.dispatch(acker(), listener("start"), order_key="command:C1")
    await queue.dispatch(acker(), listener("day1.1"), order_key="command:C1:day1.1")
    await queue.dispatch(acker(), listener("day1.2"), order_key="command:C1:day1.2")
    await queue.dispatch(acker(), listener("hold"), order_key="command:C1")
    gates["day1.1"].set()
    gates["day1.2"].set()
    for _ in range(20):  # bounded: nothing may run before the start it waits for
        await asyncio.sleep(0)
    assert order == []
    gates["start"].set()
    await tasks.settle()
    assert order[0] == "start" and order[-1] == "hold"
    assert sorted(order[1:3]) == ["day1.1", "day1.2"]


async def test_an_error_before_the_ack_reaches_bolt_and_one_after_it_is_only_logged() -> None:
    tasks = Tasks()
    queue = WorkQueue(tasks.spawn, workers=2)

    async def refuses_early(ack: AsyncAck) -> None:
        raise RuntimeError("broken before the ack")

    async def fails_late(ack: AsyncAck) -> None:
        await ack()
        raise RuntimeError("broken after the ack")

    with pytest.raises(RuntimeError, match="before the ack"):
        await queue.dispatch(acker(), refuses_early)
    late = acker()
    await queue.dispatch(late, fails_late)
    await tasks.settle()
    assert late.response is not None and late.response.status == 200
    assert queue.busy == 0


async def test_inline_mode_finishes_the_work_before_dispatch_returns() -> None:
    tasks = Tasks()
    queue = WorkQueue(tasks.spawn, inline=True)
    done: list[str] = []

    async def work(ack: AsyncAck) -> None:
        await ack()
        done.append("work")

    await queue.dispatch(acker(), work)
    assert (done, tasks.running) == (["work"], set())


def test_a_queue_without_workers_is_refused_with_a_sentence() -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        WorkQueue(Tasks().spawn, workers=0)
