"""Delegation: while someone is out of office, another person holds their role until a date.

``/ion delegate lead @lou until 2026-11-06`` gives lou the lead role's rights (approve, decide)
until the end of that day in the team's zone. A delegation widens who may act; it never lets
anyone count twice: the four-eyes rule is by person (approvals.py), so a delegate still cannot
approve a run they requested. Stored as one list under a setting key (appends are atomic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.engine import deliveries
from bot.engine.audit import Auditor
from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.permissions import Policy
from bot.engine.ports import JSON, Actor, Clock
from bot.engine.units import unit_of_work

KEY = "delegations"
MAX_DAYS = 60  # a delegation is for an absence, not a permanent change of roles (that is ION_ROLES)


class DelegationStore(Protocol):
    async def get_value(self, key: str) -> JSON | None: ...

    async def append_value(self, key: str, item: JSON) -> list[JSON]: ...


@dataclass(frozen=True)
class Delegation:
    role: str
    user_id: str
    name: str
    until: date  # inclusive, in the team's zone
    by_id: str
    by_name: str
    at: datetime

    def ends_at(self, zone: ZoneInfo) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(0), zone)

    def to_json(self) -> dict[str, JSON]:
        return {
            "role": self.role,
            "user_id": self.user_id,
            "name": self.name,
            "until": self.until.isoformat(),
            "by_id": self.by_id,
            "by_name": self.by_name,
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, raw: JSON) -> Delegation | None:
        if not isinstance(raw, dict):
            return None
        try:
            return cls(
                role=str(raw["role"]),
                user_id=str(raw["user_id"]),
                name=str(raw["name"]),
                until=date.fromisoformat(str(raw["until"])),
                by_id=str(raw["by_id"]),
                by_name=str(raw["by_name"]),
                at=datetime.fromisoformat(str(raw["at"])),
            )
        except (KeyError, ValueError):
            return None


class Delegations:
    """The use case behind ``/ion delegate`` and the roles a delegate holds meanwhile."""

    def __init__(self, store: DelegationStore, policy: Policy, clock: Clock, auditor: Auditor, zone: ZoneInfo) -> None:
        self._store = store
        self._policy = policy
        self._clock = clock
        self._auditor = auditor
        self.zone = zone

    async def delegate(self, actor: Actor, role: str, user_id: str, name: str, until: date) -> Delegation:
        """Refused with a sentence (and audited) unless the role exists, the actor holds it or is a
        manager or lead, the delegate is someone else, and ``until`` is today or within MAX_DAYS."""
        try:
            self._check(actor, role, user_id, until)
        except Refused as refused:
            await self._auditor.record(actor, AuditKind.DELEGATED, outcome="refused", detail=refused.message)
            refused.audited = True
            raise
        given = Delegation(role, user_id, name, until, actor.user_id, actor.name, self._clock.now())
        async with unit_of_work():  # the delegation and its audit entry, or neither
            await self._store.append_value(KEY, given.to_json())
            await self._auditor.record(
                actor,
                AuditKind.DELEGATED,
                after=f"{role} -> {name}",
                detail=f"{name} holds {role} until {until:%a %d %b}",
            )
        return given

    def _check(self, actor: Actor, role: str, user_id: str, until: date) -> None:
        roles = sorted(r for r in self._policy.members if r != "bot")
        if role not in self._policy.members:
            raise Refused(f"There is no role {role!r}; the roles are {', '.join(roles)}. Nothing was delegated.")
        if role not in actor.roles and not self._policy.allows(actor, "decide_gate"):
            raise Refused(
                f"{actor.name} may not delegate {role}: only someone who holds it, or a manager or lead, may. "
                "Nothing was delegated."
            )
        if user_id == actor.user_id:
            raise Refused("You cannot delegate a role to yourself; name the person who covers for you.")
        today = self._clock.now().astimezone(self.zone).date()
        if until < today:
            raise Refused(f"{until:%a %d %b %Y} has passed; give a date from today on. Nothing was delegated.")
        if until > today + timedelta(days=MAX_DAYS):
            raise Refused(
                f"A delegation lasts at most {MAX_DAYS} days (until {today + timedelta(days=MAX_DAYS):%d %b}); "
                "for a lasting change, change ION_ROLES. Nothing was delegated."
            )

    async def active(self) -> list[Delegation]:
        """Delegations in force now, the latest per (role, person) only."""
        known, raw = deliveries.looked_value(KEY)  # read by the request's first look, moments ago
        if not known:
            raw = await self._store.get_value(KEY)
        found = [d for d in (Delegation.from_json(item) for item in raw or [] if isinstance(raw, list)) if d]
        now = self._clock.now()
        latest: dict[tuple[str, str], Delegation] = {}
        for item in found:
            latest[(item.role, item.user_id)] = item
        return [d for d in latest.values() if d.ends_at(self.zone) > now]

    async def delegates(self, role: str) -> list[Delegation]:
        return [d for d in await self.active() if d.role == role]

    async def with_delegated_roles(self, actor: Actor) -> Actor:
        """``actor`` with every role delegated to them now added."""
        extra = {d.role for d in await self.active() if d.user_id == actor.user_id}
        return replace(actor, roles=actor.roles | extra) if extra - actor.roles else actor


def describe(delegations: Sequence[Delegation]) -> list[str]:
    """App Home's lines: "lou holds lead until Fri 06 Nov (given by lee)"."""
    return [f"{d.name} holds {d.role} until {d.until:%a %d %b} (given by {d.by_name})" for d in delegations]
