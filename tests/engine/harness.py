"""A small runbook and a Rollout wired to fakes on a virtual clock, shared by the engine tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.engine.clock import VirtualClock
from bot.engine.lease import DEFAULT_LEASE
from bot.engine.permissions import Policy
from bot.engine.ports import Actor
from bot.engine.records import StepState
from bot.engine.rollout import Rollout
from bot.runbook.models import Runbook
from tests.engine.fakes import FakeActions, FakeChecker, FakeNotifier, FakeStore, World

CHANNEL = "C_ROLLOUT"
START = date(2026, 10, 29)  # Thursday; Day 3 is Monday 2 Nov, after the US DST change on 1 Nov

RUNBOOK: dict[str, Any] = {
    "id": "week17-test",
    "title": "Week 17 (test)",
    "calendar": {"working_days": 10, "timezone": "America/Chicago"},
    "environments": [
        {"name": "staging", "project": "ion-staging"},
        {"name": "production", "project": "ion-prod", "production": True},
    ],
    "services": [{"name": "api", "regions": ["us-central1", "europe-west1"]}],
    "schedule": {"daily_report_at": "17:00"},
    "gates": [
        {
            "id": "gonogo.day3",
            "title": "Go/No-Go day 3",
            "day": 3,
            "at": "09:00",
            "unlocks_day": 3,
            "health_checks": [{"label": "Error rate", "condition": "error_rate_pct < 0.5"}],
            "sections": [{"title": "Team", "items": [{"id": "oncall", "text": "On-call ready"}]}],
            "signoffs": ["manager", "lead"],
        }
    ],
    "days": [
        {
            "number": 1,
            "title": "Day 1",
            "steps": [
                {
                    "id": "day1.1",
                    "title": "Scale both environments",
                    "window": {"start": "09:00", "end": "10:00"},
                    "environments": ["staging", "production"],
                    "staging_first": True,
                    "approvals": [{"role": "lead"}],
                    "actions": [{"kind": "cloud_run.scale", "service": "api", "min_instances": 2}],
                    "checklist": [{"id": "latency", "text": "Latency unchanged"}],
                }
            ],
        },
        {
            "number": 2,
            "title": "Day 2",
            "steps": [
                {
                    "id": "day2.1",
                    "title": "Reduce minimum instances",
                    "window": {"start": "09:00", "end": "10:00"},
                    "actions": [{"kind": "cloud_run.scale", "service": "api", "min_instances": 1}],
                },
                {
                    "id": "day2.2",
                    "title": "Cap maximum instances",
                    "depends_on": ["day2.1"],
                    "actions": [
                        {"kind": "manual", "instruction": "Tell support"},
                        {"kind": "cloud_run.scale", "service": "api", "max_instances": 50},
                    ],
                },
                {
                    "id": "day2.3",
                    "title": "Cap with auto revert",
                    "auto_revert_on_failure": True,
                    "actions": [{"kind": "cloud_run.scale", "service": "api", "max_instances": 40}],
                },
            ],
        },
        {
            "number": 3,
            "title": "Day 3",
            "steps": [
                {
                    "id": "day3.1",
                    "title": "Soak after scaling",
                    "window": {"start": "09:00", "end": "11:00"},
                    "actions": [{"kind": "cloud_run.scale", "service": "api", "max_instances": 60}],
                    "verification": {"window": "30m", "conditions": ["error_rate_pct < 1"]},
                },
                {
                    "id": "day3.2",
                    "title": "Cap in two moves",
                    "actions": [
                        {"kind": "cloud_run.scale", "service": "api", "max_instances": 45},
                        {"kind": "cloud_run.scale", "service": "api", "max_instances": 35},
                    ],
                },
            ],
        },
    ],
}


def runbook() -> Runbook:
    return Runbook.model_validate(RUNBOOK)


POLICY = Policy.build(
    {
        "manager": ["U_MANAGER"],
        "lead": ["U_LEAD", "U_LEAD2"],
        "sre_oncall": ["U_SRE", "S_ONCALL"],
        "member": ["U_DEV"],
    }
)
maria = POLICY.actor("U_MANAGER", "maria")
lee = POLICY.actor("U_LEAD", "lee")
lou = POLICY.actor("U_LEAD2", "lou")
sam = POLICY.actor("U_SRE", "sam")
olga = POLICY.actor("U_OLGA", "olga", groups=["S_ONCALL"])
dana = POLICY.actor("U_DEV", "dana")


@dataclass
class Harness:
    rollout: Rollout
    store: FakeStore
    world: World
    checker: FakeChecker
    notifier: FakeNotifier
    clock: VirtualClock

    def again(self, dry_run: bool = False) -> Rollout:
        """A fresh Rollout over the same store and world, as after a restart."""
        return Rollout(
            runbook(), self.store, FakeActions(self.world), self.checker, self.notifier, self.clock, POLICY, dry_run
        )

    async def restarted_after_the_lease(self) -> Rollout:
        """A fresh Rollout once the crashed process's lease has run out: recovery may take over."""
        await self.clock.advance(DEFAULT_LEASE + timedelta(seconds=1))
        return self.again()

    async def run_step(self, step_id: str, env: str, runner: Actor = sam, approver: Actor = lee) -> Any:
        """Request, approve and run; a manual action it stops at is marked done by the runner."""
        plan = await self.rollout.request_run(CHANNEL, step_id, env, runner)
        await self.rollout.approve(CHANNEL, step_id, env, approver)
        result = await self.rollout.confirm_run(CHANNEL, step_id, env, runner, plan.fingerprint)
        while result.lane.state is StepState.WAITING:
            ref = result.lane.reason.rsplit(" ", 1)[-1] if result.lane.reason else "1"
            outcome = await self.rollout.done(CHANNEL, step_id, ref, None, runner)
            assert outcome.task is not None, outcome.message
            result = await outcome.task
        return result


async def make(dry_run: bool = False, start: bool = True) -> Harness:
    store, world, checker, notifier = FakeStore(), World(), FakeChecker(), FakeNotifier()
    clock = VirtualClock(datetime(2026, 10, 29, 14, 0, tzinfo=UTC))
    checker.values["error_rate_pct"] = 0.2
    rollout = Rollout(runbook(), store, FakeActions(world), checker, notifier, clock, POLICY, dry_run)
    harness = Harness(rollout, store, world, checker, notifier, clock)
    if start:
        await rollout.start_run(CHANNEL, START, lee)
    return harness
