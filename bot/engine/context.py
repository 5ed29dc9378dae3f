"""The engine's wiring in one object, so each use-case module takes one parameter, not nine."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.engine import units
from bot.engine.audit import Auditor
from bot.engine.calendar import RunCalendar
from bot.engine.lease import DEFAULT_LEASE, LeaseRegistry, new_owner_id
from bot.engine.permissions import Policy
from bot.engine.ports import JSON, ActionFactory, AlertHistory, Clock, ConditionChecker, Event, Notifier
from bot.engine.records import Run
from bot.engine.states import Lanes
from bot.engine.store import RolloutStore
from bot.runbook.models import Environment, Runbook, Step

DRY_RUN_PREFIX = "DRY RUN: "


@dataclass
class Context:
    runbook: Runbook
    store: RolloutStore
    actions: ActionFactory
    checker: ConditionChecker
    notifier: Notifier
    clock: Clock
    policy: Policy
    dry_run: bool = False
    lease: timedelta = DEFAULT_LEASE  # an execution whose heartbeat is older is its dead owner's
    owner: str = field(default_factory=new_owner_id)  # this process's id on the executions it claims
    alert_history: AlertHistory | None = None  # the fired alerts a decision point counts (gate_evidence.py)
    leases: LeaseRegistry = field(default_factory=LeaseRegistry)  # the leases this Rollout's executions keep
    auditor: Auditor = field(init=False)
    lanes: Lanes = field(init=False)

    def __post_init__(self) -> None:
        self.auditor = Auditor(self.store, self.clock)
        self.lanes = Lanes(self.store, self.auditor, self.clock, self.show_time)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.runbook.calendar.timezone)

    def show_time(self, when: datetime) -> str:
        """Times shown to people are local to the team: "10:02" today, "Tue 10:02" otherwise."""
        local = when.astimezone(self.zone)
        if local.date() == self.clock.now().astimezone(self.zone).date():
            return local.strftime("%H:%M")
        return local.strftime("%a %H:%M")

    def calendar(self, run: Run) -> RunCalendar:
        return RunCalendar(self.runbook, run.start_date)

    def environment(self, name: str) -> Environment:
        env = self.runbook.environment(name)
        if env is None:
            known = ", ".join(e.name for e in self.runbook.environments)
            raise ValueError(f"the runbook has no environment {name!r}; it has {known}")
        return env

    def is_production(self, name: str) -> bool:
        env = self.runbook.environment(name)
        return bool(env and env.production)

    def requires_checklist(self, step: Step, environment: str) -> bool:
        """The lane's own lists, and the whole step's in its last environment, must be complete to accept it."""
        return bool(step.lane_checklists(environment))

    async def emit(
        self,
        run: Run,
        kind: str,
        text: str,
        step_id: str | None = None,
        data: dict[str, JSON] | None = None,
    ) -> None:
        """Tell the chat; inside a unit of work, once the unit has committed (never of a rolled-back change)."""
        if run.dry_run and not text.startswith(DRY_RUN_PREFIX):
            text = DRY_RUN_PREFIX + text
        event = Event(kind=kind, run_id=run.id, channel=run.channel, text=text, step_id=step_id, data=data or {})
        await units.after_commit(lambda: self.notifier.notify(event))

    def unit_of_work(self) -> AbstractAsyncContextManager[None]:
        """The use case's writes from here on commit together (bot/engine/units.py)."""
        return units.unit_of_work()
