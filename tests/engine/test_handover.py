"""The overnight handover on the virtual clock: accepted with one click (once, by the right people),
and, when nobody accepts by the deadline, the runbook's fallback applied exactly once."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.engine.audit_kinds import AuditKind
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.handover import Handover, ShortenedHold
from bot.engine.nudges import Person
from bot.engine.ports import JSON, AlertRecord
from bot.engine.records import Run, RunState
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from tests.engine.fakes import FakeActions, FakeChecker, FakeNotifier, FakeStore, World
from tests.engine.harness import CHANNEL, POLICY, RUNBOOK, START, dana, lee, sam
from tests.triggers.builders import InMemoryAlerts

# Day 2 is Friday 30 Oct 2026 in Chicago (CDT, UTC-5): 17:00 is 22:00 UTC, 19:00 is 00:00 UTC.
DAY2_1700 = datetime(2026, 10, 30, 22, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 10, 31, 0, 0, tzinfo=UTC)
NEXT_0800 = datetime(2026, 10, 31, 13, 0, tzinfo=UTC)


class Shared:
    """The setting rows and post claims as the store keeps them (one caller per claim wins)."""

    def __init__(self) -> None:
        self.values: dict[str, JSON] = {}
        self.claims: set[tuple[str, str, str]] = set()

    async def get_value(self, key: str) -> JSON | None:
        return self.values.get(key)

    async def put_value(self, key: str, value: JSON) -> None:
        self.values[key] = value

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        if (job_key, run_id, local_date) in self.claims:
            return False
        self.claims.add((job_key, run_id, local_date))
        return True


class People:
    async def members(self, role: str) -> list[Person]:
        return [Person(i, i.lower()) for i in sorted(POLICY.members.get(role, frozenset())) if i.startswith("U")]


class Night:
    def __init__(self, fallback: str | None) -> None:
        data: dict[str, Any] = copy.deepcopy(RUNBOOK)
        if fallback is not None:
            data["handover"] = {"deadline": "19:00", "fallback": fallback, "hold": "5m", "until": "08:00"}
        self.clock = VirtualClock(DAY2_1700 - timedelta(hours=9))
        self.store = FakeStore()
        self.notifier = FakeNotifier()
        self.shared = Shared()
        self.rollout = Rollout(
            Runbook.model_validate(data),
            self.store,
            FakeActions(World()),
            FakeChecker(),
            self.notifier,
            self.clock,
            POLICY,
        )
        self.paged: list[tuple[str, list[str]]] = []
        self.replicas = [self._replica() for _ in range(2)]

    def _replica(self) -> Handover:
        async def pause(run: Run, why: str) -> None:
            await self.rollout.pause(run.channel, lee, why)

        async def resume(run: Run, why: str) -> None:
            await self.rollout.resume(run.channel, lee)

        async def page(run: Run, text: str, people: list[Person]) -> None:
            self.paged.append((text, [p.user_id for p in people]))

        return self.rollout.handover(self.shared, People(), pause, resume, page)

    async def run(self) -> Run:
        run = await self.store.open_run(CHANNEL)
        assert run is not None
        return run

    async def passes(self, at: datetime) -> list[str]:
        await self.clock.advance_to(at)
        done: list[str] = []
        for replica in self.replicas:
            done += await replica.pass_once(await self.run())
        return done

    async def audit(self, kind: AuditKind) -> list[Any]:
        return [e for e in await self.store.audit() if e.kind is kind]


async def started(fallback: str | None = "shorten_hold", at: datetime = DAY2_1700) -> Night:
    night = Night(fallback)
    await night.rollout.start_run(CHANNEL, START, lee)
    await night.clock.advance_to(at)
    return night


async def test_on_call_accepts_once_and_a_second_click_changes_nothing() -> None:
    night = await started()
    handover = night.replicas[0]
    first = await handover.accept(await night.run(), sam)
    again = await night.replicas[1].accept(await night.run(), sam)

    assert first.startswith("Thanks: you have tonight")
    assert again.startswith("You already have tonight")
    accepted = await night.audit(AuditKind.HANDOVER_ACCEPTED)
    assert [(e.actor_name, e.outcome) for e in accepted] == [("sam", "ok")]
    assert night.notifier.texts("handover_accepted") == [":white_check_mark: sam has the night of Fri 30 Oct."]
    assert await night.passes(DEADLINE + timedelta(minutes=5)) == []  # accepted: no fallback
    assert await night.audit(AuditKind.HANDOVER_FALLBACK) == []


async def test_someone_not_on_call_is_refused_with_a_sentence_and_the_refusal_is_audited() -> None:
    night = await started()
    with pytest.raises(Refused, match="dana is not on call \\(sre_oncall\\) or a lead"):
        await night.replicas[0].accept(await night.run(), dana)

    refused = await night.audit(AuditKind.HANDOVER_ACCEPTED)
    assert [(e.actor_name, e.outcome) for e in refused] == [("dana", "refused")]
    assert await night.replicas[0].accepted(await night.run(), DAY2_1700.date()) is None


async def test_the_handover_cannot_be_accepted_before_the_daily_report() -> None:
    night = await started(at=DAY2_1700 - timedelta(hours=1))
    with pytest.raises(Refused, match="opens with the daily report"):
        await night.replicas[0].accept(await night.run(), sam)


async def test_nobody_accepting_shortens_the_hold_once_across_replicas_until_morning() -> None:
    night = await started("shorten_hold")
    assert await night.passes(DEADLINE - timedelta(minutes=1)) == []
    assert await night.passes(DEADLINE) == ["shorten_hold"]  # two replicas, applied once
    assert await night.passes(DEADLINE + timedelta(hours=1)) == []

    said = night.notifier.texts("handover_fallback")
    assert said == [
        ":warning: Nobody accepted the overnight handover by 19:00, so every automatic rollback now waits "
        "at most 5m for a Hold (until Sat 08:00)."
    ]
    assert len(await night.audit(AuditKind.HANDOVER_FALLBACK)) == 1
    handover = night.replicas[1]
    assert await handover.hold_window((await night.run()).id, DEADLINE + timedelta(hours=2)) == timedelta(minutes=5)
    assert await handover.hold_window((await night.run()).id, NEXT_0800) is None


async def test_a_shortened_hold_brings_an_automatic_rollback_forward() -> None:
    night = await started("shorten_hold")
    await night.passes(DEADLINE)
    run = await night.run()
    opened = DEADLINE + timedelta(hours=3)
    await night.clock.advance_to(opened)
    alert = AlertRecord(
        id="a1",
        run_id=run.id,
        trigger_id="error_rate",
        kind="breach",
        state="open",
        opened_at=opened,
        message="error rate 3%",
        auto_rollback_at=opened + timedelta(minutes=15),
    )
    store = ShortenedHold(InMemoryAlerts(), night.replicas[0], night.clock.now)
    stored = await store.open_alert(alert)

    assert stored is not None and stored.auto_rollback_at == opened + timedelta(minutes=5)


async def test_nobody_accepting_pages_the_secondary_once() -> None:
    night = await started("page_secondary")
    assert await night.passes(DEADLINE + timedelta(minutes=2)) == ["page_secondary"]
    assert await night.passes(DEADLINE + timedelta(minutes=7)) == []

    assert night.paged == [(f"Nobody accepted the overnight handover of {CHANNEL} by 19:00.", ["U_MANAGER"])]
    event = next(e for e in night.notifier.events if e.kind == "handover_fallback")
    assert event.data["mention"] == ["U_MANAGER"] and event.data["dm"] == ["U_MANAGER"]
    assert "the secondary (manager: u_manager) is paged" in event.text


async def test_nobody_accepting_pauses_the_run_until_morning_then_it_resumes() -> None:
    night = await started("pause_auto_advance")
    assert await night.passes(DEADLINE) == ["pause_auto_advance"]
    assert (await night.run()).state is RunState.PAUSED
    assert await night.passes(NEXT_0800 - timedelta(minutes=1)) == []
    assert await night.passes(NEXT_0800) == ["resumed"]
    assert (await night.run()).state is RunState.ACTIVE


async def test_a_runbook_without_a_handover_block_applies_no_fallback() -> None:
    night = await started(None)
    assert await night.passes(DEADLINE + timedelta(hours=1)) == []
    with pytest.raises(Refused, match="no overnight handover"):
        await night.replicas[0].accept(await night.run(), sam)
