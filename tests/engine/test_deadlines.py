"""Deadlines on the virtual clock: reminded before, escalated (or held, or missed) at the deadline,
each once; and a delegate who approves while the four-eyes rule still holds."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.engine.clock import VirtualClock
from bot.engine.deadlines import report_lines
from bot.engine.delegation import Delegations
from bot.engine.errors import Refused
from bot.engine.nudges import Person
from bot.engine.ports import JSON
from bot.engine.records import Run, RunState
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from tests.engine.fakes import FakeActions, FakeChecker, FakeNotifier, FakeStore, World
from tests.engine.harness import CHANNEL, POLICY, RUNBOOK, START, dana, lee, maria, sam

# Day 2 is Friday 30 Oct 2026; 11:00 in Chicago (CDT) is 16:00 UTC.
DAY2_0800 = datetime(2026, 10, 30, 13, 0, tzinfo=UTC)
DUE = datetime(2026, 10, 30, 16, 0, tzinfo=UTC)
NAMES = {"U_MANAGER": "maria", "U_LEAD": "lee", "U_LEAD2": "lou", "U_SRE": "sam", "U_DEV": "dana"}


def runbook_with(deadline: dict[str, Any]) -> Runbook:
    data = copy.deepcopy(RUNBOOK)
    step = data["days"][1]["steps"][0]
    step["approvals"] = [{"role": "lead"}]
    step["deadline"] = deadline
    return Runbook.model_validate(data)


class OnceLedger:
    """claim_post as the store keeps it: one caller per key wins."""

    def __init__(self) -> None:
        self.keys: set[tuple[str, str, str]] = set()

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        key = (job_key, run_id, local_date)
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


class Settings:
    """The setting rows delegations live in."""

    def __init__(self) -> None:
        self.values: dict[str, JSON] = {}

    async def get_value(self, key: str) -> JSON | None:
        return self.values.get(key)

    async def append_value(self, key: str, item: JSON) -> list[JSON]:
        current = self.values.get(key)
        items = [*current, item] if isinstance(current, list) else [item]
        self.values[key] = items
        return items


class PolicyPeople:
    def __init__(self, delegations: Delegations | None = None) -> None:
        self.delegations = delegations

    async def members(self, role: str) -> list[Person]:
        ids = sorted(i for i in POLICY.members.get(role, frozenset()) if i.startswith("U"))
        if self.delegations is not None:
            ids += [d.user_id for d in await self.delegations.delegates(role)]
        return [Person(i, NAMES.get(i, i)) for i in ids]


class World2:
    def __init__(self, deadline: dict[str, Any]) -> None:
        self.clock = VirtualClock(DAY2_0800)
        self.store = FakeStore()
        self.notifier = FakeNotifier()
        self.ledger = OnceLedger()
        self.rollout = Rollout(
            runbook_with(deadline), self.store, FakeActions(World()), FakeChecker(), self.notifier, self.clock, POLICY
        )
        self.held: list[str] = []
        self.nudges = self.rollout.deadline_pass(self.ledger, PolicyPeople(), self.hold)

    async def hold(self, run: Run, why: str) -> None:
        self.held.append(why)
        await self.rollout.hold(run.channel, lee, why)

    async def run(self) -> Run:
        run = await self.store.open_run(CHANNEL)
        assert run is not None
        return run

    async def at(self, when: datetime) -> list[str]:
        await self.clock.advance_to(when)
        return [n.kind for n in await self.nudges.pass_once(await self.run())]


async def requested(deadline: dict[str, Any]) -> World2:
    world = World2(deadline)
    await world.rollout.start_run(CHANNEL, START, lee)
    await world.rollout.request_run(CHANNEL, "day2.1", "production", sam)
    return world


async def test_an_approval_is_reminded_before_its_deadline_and_escalated_at_it_once_each() -> None:
    world = await requested({"due": "day2 11:00", "remind": "30m", "escalate": "manager"})

    assert await world.at(DUE - timedelta(minutes=31)) == []
    assert await world.at(DUE - timedelta(minutes=30)) == ["remind"]
    assert await world.at(DUE - timedelta(minutes=10)) == []  # said once, however often the pass runs
    assert await world.at(DUE) == ["escalate"]
    assert await world.at(DUE + timedelta(hours=1)) == []

    reminder = next(e for e in world.notifier.events if e.kind == "deadline_reminder")
    assert reminder.step_id == "day2.1"
    assert reminder.data["mention"] == ["U_LEAD", "U_LEAD2"]  # exactly the people who can approve
    assert reminder.data["dm"] == ["U_LEAD", "U_LEAD2"]
    assert "Reminder: day2.1 production approval is due at 11:00 (in 30m)" in reminder.text
    escalated = next(e for e in world.notifier.events if e.kind == "deadline_escalated")
    assert escalated.data["mention"] == ["U_MANAGER"]
    assert "escalated to manager" in escalated.text

    audit = await world.store.audit((await world.run()).id)
    assert [e.what for e in audit if e.what in ("reminded", "escalated")] == ["reminded", "escalated"]
    assert report_lines(audit) == ["day2.1 production approval waited 3h; escalated to maria (manager) at 11:00"]


async def test_the_requester_is_never_reminded_to_approve_their_own_request() -> None:
    world = await requested({"due": "day2 11:00"})
    await world.at(DUE - timedelta(minutes=5))
    reminder = next(e for e in world.notifier.events if e.kind == "deadline_reminder")
    assert "U_SRE" not in reminder.data["mention"]  # type: ignore[operator]


async def test_an_approval_given_in_time_is_neither_reminded_nor_escalated() -> None:
    world = await requested({"due": "day2 11:00"})
    await world.rollout.approve(CHANNEL, "day2.1", "production", lee)
    assert await world.at(DUE - timedelta(minutes=5)) == []
    assert await world.at(DUE + timedelta(minutes=5)) == []


async def test_within_counts_from_becoming_ready_and_hold_holds_the_run_with_a_sentence() -> None:
    world = await requested({"within": "2h", "remind": "15m", "then": "hold"})
    ready = DAY2_0800
    assert await world.at(ready + timedelta(hours=1, minutes=45)) == ["remind"]
    assert await world.at(ready + timedelta(hours=2)) == ["hold"]
    run = await world.run()
    assert run.state is RunState.HELD
    assert world.held == ["day2.1 production approval passed its deadline (10:00)"]
    assert "the run is held until someone resumes it" in world.notifier.texts("deadline_hold")[0]


async def test_fail_marks_the_item_missed_for_the_report() -> None:
    world = await requested({"due": "day2 11:00", "then": "fail"})
    assert await world.at(DUE) == ["fail"]
    audit = await world.store.audit((await world.run()).id)
    assert report_lines(audit) == ["day2.1 production approval waited 3h; missed its deadline at 11:00"]


async def test_no_deadline_in_the_runbook_means_no_notices() -> None:
    world = World2({})
    data = copy.deepcopy(RUNBOOK)
    world.rollout = Rollout(
        Runbook.model_validate(data),
        world.store,
        FakeActions(World()),
        FakeChecker(),
        world.notifier,
        world.clock,
        POLICY,
    )
    world.nudges = world.rollout.deadline_pass(world.ledger, PolicyPeople(), world.hold)
    await world.rollout.start_run(CHANNEL, START, lee)
    await world.rollout.request_run(CHANNEL, "day2.1", "production", sam)
    assert await world.at(DUE + timedelta(hours=3)) == []


async def test_a_gate_not_decided_by_its_deadline_escalates() -> None:
    data = copy.deepcopy(RUNBOOK)
    data["gates"][0]["deadline"] = {"within": "1h", "remind": "15m"}
    world = World2({})
    world.rollout = Rollout(
        Runbook.model_validate(data),
        world.store,
        FakeActions(World()),
        FakeChecker(),
        world.notifier,
        world.clock,
        POLICY,
    )
    world.nudges = world.rollout.deadline_pass(world.ledger, PolicyPeople(), world.hold)
    await world.rollout.start_run(CHANNEL, START, lee)
    gate_at = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # Day 3, Monday 09:00 CST
    assert await world.at(gate_at + timedelta(minutes=44)) == []
    assert await world.at(gate_at + timedelta(minutes=45)) == ["remind"]
    assert await world.at(gate_at + timedelta(hours=1)) == ["escalate"]
    reminder = next(e for e in world.notifier.events if e.kind == "deadline_reminder")
    assert reminder.data["mention"] == ["U_MANAGER", "U_LEAD", "U_LEAD2"]  # the sign-off roles


async def test_a_delegate_approves_for_the_absent_lead_but_never_their_own_request() -> None:
    world = await requested({"due": "day2 11:00"})
    delegations = world.rollout.delegations(Settings())
    await delegations.delegate(lee, "lead", "U_DEV", "dana", date(2026, 11, 6))
    dana_covering = await delegations.with_delegated_roles(dana)
    assert "lead" in dana_covering.roles

    status = await world.rollout.approve(CHANNEL, "day2.1", "production", dana_covering)
    assert status.satisfied

    # dana asks to run the next production change herself: her own approval cannot count.
    await world.rollout.confirm_run(
        CHANNEL,
        "day2.1",
        "production",
        sam,
        (await world.rollout.request_run(CHANNEL, "day2.1", "production", sam)).fingerprint,
    )
    await world.rollout.request_run(CHANNEL, "day2.2", "production", dana_covering)
    with pytest.raises(Refused, match="cannot also approve it: production needs four eyes"):
        await world.rollout.approve(CHANNEL, "day2.2", "production", dana_covering)

    audit = await world.store.audit(None)
    assert any(e.what == "delegated" and e.detail == "dana holds lead until Fri 06 Nov" for e in audit)


async def test_delegation_refusals_say_what_to_do() -> None:
    clock = VirtualClock(DAY2_0800)
    store = FakeStore()
    rollout = Rollout(runbook_with({}), store, FakeActions(World()), FakeChecker(), FakeNotifier(), clock, POLICY)
    delegations = rollout.delegations(Settings())
    with pytest.raises(Refused, match="There is no role 'boss'"):
        await delegations.delegate(lee, "boss", "U_DEV", "dana", date(2026, 11, 6))
    with pytest.raises(Refused, match="dana may not delegate lead"):
        await delegations.delegate(dana, "lead", "U_SRE", "sam", date(2026, 11, 6))
    with pytest.raises(Refused, match="to yourself"):
        await delegations.delegate(lee, "lead", "U_LEAD", "lee", date(2026, 11, 6))
    with pytest.raises(Refused, match="has passed"):
        await delegations.delegate(lee, "lead", "U_DEV", "dana", date(2026, 10, 1))
    await delegations.delegate(maria, "lead", "U_DEV", "dana", date(2026, 10, 30))
    assert [d.name for d in await delegations.active()] == ["dana"]
    await clock.advance_to(datetime(2026, 10, 31, 5, 1, tzinfo=UTC))  # past midnight in Chicago
    assert await delegations.active() == []
    assert "lead" not in (await delegations.with_delegated_roles(dana)).roles
    refusals = [e for e in await store.audit(None) if e.what == "delegated" and e.outcome == "refused"]
    assert len(refusals) == 4
