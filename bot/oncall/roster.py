"""Who holds a role now: ION_ROLES, plus delegations, with ``sre_oncall`` taken from PagerDuty.

PagerDuty's on-call is read at most once per TTL per schedule and matched to a Slack user by
email (``users.lookupByEmail``; the PagerDuty user's login email must be the Slack profile's).
When PagerDuty cannot be read or nobody matches, ION_ROLES stands, and the log says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.delegation import Delegations
from bot.engine.nudges import Person
from bot.engine.permissions import Policy
from bot.engine.ports import Clock
from bot.oncall.pagerduty import PagerDuty, PagerDutyFailure

log = structlog.get_logger(__name__)

TTL = timedelta(minutes=5)


class OnCallRoster:
    """The Slack users on call now on a PagerDuty schedule, cached for ``ttl``."""

    def __init__(self, pagerduty: PagerDuty, slack: AsyncWebClient, clock: Clock, ttl: timedelta = TTL) -> None:
        self._pagerduty = pagerduty
        self._slack = slack
        self._clock = clock
        self._ttl = ttl
        self._cache: dict[str, tuple[datetime, list[Person]]] = {}
        self._emails: dict[str, Person | None] = {}

    async def on_call(self, schedule: str) -> list[Person]:
        now = self._clock.now()
        cached = self._cache.get(schedule)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            users = await self._pagerduty.oncalls(schedule)
        except PagerDutyFailure as failure:
            log.warning("pagerduty on-call unreadable; ION_ROLES stands", schedule=schedule, error=str(failure))
            return cached[1] if cached is not None else []
        people = [p for p in [await self._slack_user(u.email, u.name) for u in users] if p is not None]
        self._cache[schedule] = (now, people)
        return people

    async def _slack_user(self, email: str, name: str) -> Person | None:
        key = email.lower()
        if key not in self._emails:
            try:
                response = await self._slack.users_lookupByEmail(email=email)
                user = response.get("user") or {}
                self._emails[key] = Person(str(user["id"]), str(user.get("name") or name))
            except (SlackApiError, KeyError) as exc:
                log.warning("on-call has no Slack user with that email", email=email, error=str(exc))
                return None
        return self._emails[key]


class RolePeople:
    """The engine's People: ION_ROLES members and delegates; on-call from PagerDuty when configured."""

    def __init__(
        self,
        policy: Policy,
        delegations: Delegations | None = None,
        roster: OnCallRoster | None = None,
        schedule: str | None = None,
        oncall_role: str = "sre_oncall",
    ) -> None:
        self._policy = policy
        self._delegations = delegations
        self._roster = roster
        self._schedule = schedule
        self._oncall_role = oncall_role

    async def members(self, role: str) -> list[Person]:
        found: list[Person] = []
        if role == self._oncall_role and self._roster is not None and self._schedule:
            found = await self._roster.on_call(self._schedule)
        if not found:
            found = [Person(i, i) for i in sorted(self._policy.members.get(role, frozenset()))]
        if self._delegations is not None:
            found += [Person(d.user_id, d.name) for d in await self._delegations.delegates(role)]
        return list({p.user_id: p for p in found}.values())
