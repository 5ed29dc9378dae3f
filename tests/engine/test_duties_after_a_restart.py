"""Duties the bot owed while it was down, caught up on the virtual clock by a new bot over the same
store after midnight: done once across two replicas, saying when and why they are late."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.engine.audit_kinds import AuditKind
from bot.engine.duties import Downtime, Duties
from bot.engine.records import RunState
from tests.engine.test_deadlines import DUE, PolicyPeople, World2, requested
from tests.engine.test_handover import DEADLINE, NEXT_0800, Night, Shared, started

# Chicago is UTC-5 on Fri 30 Oct 2026: 18:50 there is 23:50 UTC, 01:12 the next day is 06:12 UTC.
LAST_SEEN = DEADLINE - timedelta(minutes=10)
BACK_AT_0112 = datetime(2026, 10, 31, 6, 12, tzinfo=UTC)
BACK_AT_0910 = NEXT_0800 + timedelta(minutes=70)


def bot(night: Night) -> list[Duties]:
    """Two replicas of a bot (just started) over the night's store, each with its own handover."""
    replicas = []
    for handover in (night._replica(), night._replica()):
        duties = Duties(night.shared, night.clock)
        duties.serve(handover)
        replicas.append(duties)
    return replicas


async def watch(night: Night, replicas: list[Duties], at: datetime) -> None:
    await night.clock.advance_to(at)
    for duties in replicas:
        await duties.pass_once(await night.run())


async def down_from_1850(fallback: str) -> Night:
    """A run whose bot made its last watch pass at 18:50 and then stopped (every replica)."""
    night = await started(fallback)
    await watch(night, bot(night), LAST_SEEN)
    return night


async def test_a_bot_back_after_midnight_applies_the_missed_fallback_late_once_and_says_so() -> None:
    night = await down_from_1850("pause_auto_advance")
    await watch(night, bot(night), BACK_AT_0112)
    await watch(night, bot(night), BACK_AT_0112 + timedelta(minutes=1))  # another restart says nothing again

    assert night.notifier.texts("handover_fallback") == [
        ":warning: Nobody accepted the overnight handover by 19:00, so the run is paused until Sat 08:00: the "
        "bot starts nothing on its own overnight. Applied late at 01:12: the bot was down from Fri 18:50 to 01:12."
    ]
    assert (await night.run()).state is RunState.PAUSED
    audited = await night.audit(AuditKind.HANDOVER_FALLBACK)
    assert len(audited) == 1 and "the bot was down from Fri 18:50 to 01:12" in audited[0].detail


async def test_the_late_paused_run_still_resumes_in_the_morning() -> None:
    night = await down_from_1850("pause_auto_advance")
    replicas = bot(night)
    await watch(night, replicas, BACK_AT_0112)
    await watch(night, replicas, NEXT_0800)

    assert (await night.run()).state is RunState.ACTIVE


async def test_a_bot_back_after_the_morning_says_once_that_the_night_went_without_its_fallback() -> None:
    night = await down_from_1850("shorten_hold")
    await watch(night, bot(night), BACK_AT_0910)
    await watch(night, bot(night), BACK_AT_0910 + timedelta(hours=1))

    assert night.notifier.texts("handover_fallback") == [
        ":warning: Nobody accepted the overnight handover of Fri 30 Oct by 19:00, and its fallback (shorten_hold) "
        "was never applied: the night was over when the bot came back. Noticed late at 09:10: the bot was down "
        "from Fri 18:50 to 09:10."
    ]
    assert await night.replicas[0].hold_window((await night.run()).id, BACK_AT_0910) is None


async def test_a_bot_that_ran_all_night_says_nothing_more_in_the_morning() -> None:
    night = await started("shorten_hold")
    replicas = bot(night)
    for minutes in range(0, 14 * 60, 4):  # a pass every 4 minutes, all night
        await watch(night, replicas, LAST_SEEN + timedelta(minutes=minutes))

    said = night.notifier.texts("handover_fallback")
    assert len(said) == 1 and "the bot was down" not in said[0]


async def test_a_short_gap_between_passes_is_not_downtime() -> None:
    night = await started("shorten_hold")
    duties = Duties(night.shared, night.clock)
    run = await night.run()
    await duties.pass_once(run)  # nothing served: nothing marked either
    duties.serve(night._replica())
    await duties.pass_once(run)
    await night.clock.advance(timedelta(minutes=4))

    assert await duties.downtime(run, night.clock.now()) is None
    await night.clock.advance(timedelta(minutes=1))
    assert await duties.downtime(run, night.clock.now()) == Downtime(
        night.clock.now() - timedelta(minutes=5), night.clock.now()
    )


class Deadlines:
    """Day 2.1's production approval due at ``due`` (escalated to the manager), its deadline pass run
    by bots (each two replicas) over one store."""

    def __init__(self, world: World2, shared: Shared) -> None:
        self.world, self.shared = world, shared

    def bot(self) -> list[Duties]:
        replicas = []
        for _ in range(2):
            duties = Duties(self.shared, self.world.clock)
            duties.serve(self.world.rollout.deadline_pass(self.shared, PolicyPeople(), self.world.hold))
            replicas.append(duties)
        return replicas

    async def watch(self, replicas: list[Duties], at: datetime) -> None:
        await self.world.clock.advance_to(at)
        for duties in replicas:
            await duties.pass_once(await self.world.run())

    def said(self, kind: str) -> list[str]:
        return self.world.notifier.texts(kind)


async def approval_due(at: str) -> Deadlines:
    world = await requested({"due": f"day2 {at}", "remind": "30m", "escalate": "manager"})
    return Deadlines(world, Shared())


async def test_an_escalation_that_fell_due_while_the_bot_was_down_is_said_late_once() -> None:
    deadlines = await approval_due("11:00")
    await deadlines.watch(deadlines.bot(), DUE - timedelta(minutes=40))  # 10:20, before the reminder
    await deadlines.watch(deadlines.bot(), DUE + timedelta(hours=2, minutes=5))  # back at 13:05
    await deadlines.watch(deadlines.bot(), DUE + timedelta(hours=2, minutes=6))

    assert deadlines.said("deadline_reminder") == []  # slept through: the escalation says more
    [escalated] = deadlines.said("deadline_escalated")
    assert escalated.endswith("Said late at 13:05: the bot was down from 10:20 to 13:05.")
    audit = await deadlines.world.store.audit((await deadlines.world.run()).id)
    [entry] = [e for e in audit if e.kind is AuditKind.ESCALATED]
    assert entry.detail.endswith("(Said late at 13:05: the bot was down from 10:20 to 13:05)")


async def test_an_escalation_said_on_time_does_not_claim_to_be_late() -> None:
    deadlines = await approval_due("11:00")
    replicas = deadlines.bot()
    for minutes in range(-40, 10, 2):
        await deadlines.watch(replicas, DUE + timedelta(minutes=minutes))

    [escalated] = deadlines.said("deadline_escalated")
    assert "the bot was down" not in escalated


async def test_a_notice_said_just_before_midnight_is_not_said_again_just_after_it() -> None:
    deadlines = await approval_due("23:50")
    midnight = datetime(2026, 10, 31, 5, 0, tzinfo=UTC)  # 00:00 in Chicago
    await deadlines.watch(deadlines.bot()[:1], midnight - timedelta(minutes=1))
    await deadlines.watch(deadlines.bot()[1:], midnight + timedelta(minutes=1))

    assert len(deadlines.said("deadline_escalated")) == 1
