"""Issue 14: serve builds its Runtime (the jobs, the reports) at its first use, after the first
answers, and nothing it would have heard or answered had it been built at once is lost or doubled."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bot.bootstrap_cloud import EventBus
from bot.engine.ports import Actor, Event
from bot.serve_runtime import DeferredRuntime
from bot.slack.deps import ReportsPort

LEE = Actor("U0LEE", "lee")


def event(kind: str) -> Event:
    return Event(kind=kind, run_id="r1", channel="C1", text=kind)


class Heard:
    """Event listeners that write down who heard what, in order."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str]] = []

    def listener(self, name: str) -> Any:
        async def hear(event: Event) -> None:
            self.log.append((name, event.kind))

        return hear


class FakeReports:
    def __init__(self) -> None:
        self.asked: list[str] = []

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None:
        self.asked.append(f"daily {day}")

    async def standup(self, channel: str, actor: Actor) -> None:
        self.asked.append("standup")

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        self.asked.append("metrics")
        return {"text": "metrics"}

    async def record_cost(self, channel: str, service: str, amount: Any, actor: Actor) -> str:
        self.asked.append(f"cost {service} {amount}")
        return "recorded"

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        self.asked.append(f"record {item}")
        return "noted"

    async def scaling(self, channel: str, actor: Actor) -> str:
        self.asked.append("scaling")
        return "scaled"


class FakeRuntime:
    """Subscribes its jobs' listener on construction, as bot/reports/service.py does."""

    def __init__(self, events: EventBus, heard: Heard) -> None:
        events.subscribe(heard.listener("jobs"))
        self.reports: ReportsPort = FakeReports()
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def ready(self) -> bool:
        return self.started


class Builds:
    def __init__(self, events: EventBus, heard: Heard) -> None:
        self.events, self.heard = events, heard
        self.made: list[FakeRuntime] = []

    def __call__(self) -> FakeRuntime:
        self.made.append(FakeRuntime(self.events, self.heard))
        return self.made[-1]


def wired() -> tuple[EventBus, Heard, Builds, DeferredRuntime]:
    """A bus with a listener before the Runtime's place and one after it, as serve wires them."""
    events, heard = EventBus(), Heard()
    events.subscribe(heard.listener("sim faults"))
    builds = Builds(events, heard)
    runtime = DeferredRuntime(events, builds, modules=("json",))
    events.subscribe(heard.listener("slack notifier"))
    return events, heard, builds, runtime


async def test_nothing_is_built_until_something_needs_it_and_it_is_not_ready_meanwhile() -> None:
    _, _, builds, runtime = wired()
    await runtime.stop()
    assert (builds.made, runtime.built, await runtime.ready()) == ([], None, False)


async def test_an_event_before_the_build_reaches_the_jobs_in_their_place_and_builds_them_once() -> None:
    events, heard, builds, runtime = wired()
    await events.notify(event("gate_changed"))
    await events.notify(event("step_changed"))
    assert heard.log == [
        ("sim faults", "gate_changed"),
        ("jobs", "gate_changed"),
        ("slack notifier", "gate_changed"),
        ("sim faults", "step_changed"),
        ("jobs", "step_changed"),
        ("slack notifier", "step_changed"),
    ]
    assert len(builds.made) == 1 and runtime.built is builds.made[0]


async def test_built_by_the_start_the_jobs_hear_each_later_event_once_in_their_place() -> None:
    events, heard, builds, runtime = wired()
    await runtime.start()
    await events.notify(event("gate_changed"))
    assert heard.log == [("sim faults", "gate_changed"), ("jobs", "gate_changed"), ("slack notifier", "gate_changed")]
    assert builds.made[0].started and await runtime.ready()
    await runtime.stop()
    assert builds.made[0].stopped


async def test_report_commands_before_the_start_build_the_runtime_once_and_reach_its_reports() -> None:
    _, _, builds, runtime = wired()
    said = await asyncio.gather(
        runtime.reports.record_cost("C1", "cloud-run", Decimal("10"), LEE),
        runtime.reports.scaling("C1", LEE),
        runtime.reports.metrics("C1", LEE),
        runtime.reports.record("C1", "p95", "41 ms", None, LEE),
    )
    await runtime.reports.daily_report("C1", 2, LEE)
    await runtime.reports.standup("C1", LEE)
    assert said == ["recorded", "scaled", {"text": "metrics"}, "noted"]
    assert len(builds.made) == 1
    reports = builds.made[0].reports
    assert isinstance(reports, FakeReports)
    assert reports.asked == ["cost cloud-run 10", "scaling", "metrics", "record p95", "daily 2", "standup"]
    assert not builds.made[0].started  # a command builds the reports; the jobs still start with serve


async def test_a_listener_subscribed_in_place_of_a_placeholder_takes_its_position_on_the_bus() -> None:
    events, heard = EventBus(), Heard()
    placeholder = heard.listener("placeholder")
    events.subscribe(heard.listener("first"))
    events.subscribe(placeholder)
    events.subscribe(heard.listener("last"))
    with events.in_place_of(placeholder) as added:
        events.subscribe(heard.listener("built"))
    await events.notify(event("run_started"))
    assert [name for name, _ in heard.log] == ["first", "built", "last"]
    assert len(added) == 1


async def test_a_jobs_listener_that_fails_on_an_event_before_the_build_does_not_stop_the_listeners_after_it() -> None:
    events, heard = EventBus(), Heard()

    def failing_runtime() -> FakeRuntime:
        async def broken(event: Event) -> None:
            raise RuntimeError("the final report could not be gathered")

        runtime = FakeRuntime(EventBus(), heard)
        events.subscribe(broken)
        return runtime

    runtime = DeferredRuntime(events, failing_runtime)
    events.subscribe(heard.listener("slack notifier"))
    await events.notify(event("gate_changed"))
    assert heard.log == [("slack notifier", "gate_changed")] and runtime.built is not None
