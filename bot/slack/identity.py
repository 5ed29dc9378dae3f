"""Who pressed the button: a Slack user id becomes an engine Actor with roles.

Roles may name user groups (S...), so membership is asked of Slack (usergroups.users.list)
and cached for a few minutes: every click would otherwise cost one API call per group.
Names come from the payload when Slack sends one, else from users.info (also cached).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.delegation import Delegations
from bot.engine.deliveries import current_delivery
from bot.engine.permissions import Policy
from bot.engine.ports import Actor, Clock
from bot.slack.command_people import PersonLookup
from bot.slack.command_types import PersonRef
from bot.slack.delivery.api_failures import describe

log = structlog.get_logger(__name__)

GROUP_PREFIX = "S"


class Directory:
    """Resolves Slack users to Actors through the Policy; group members and names are cached."""

    def __init__(
        self,
        policy: Policy,
        client: AsyncWebClient,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=5),
        delegations: Delegations | None = None,
    ) -> None:
        self._policy = policy
        self._client = client
        self.delegations = delegations  # roles delegated with /ion delegate (bot/engine/delegation.py)
        self._clock = clock
        self._ttl = ttl
        self._groups: dict[str, tuple[datetime, frozenset[str]]] = {}
        self._names: dict[str, str] = {}

    async def actor(self, user_id: str, name: str | None = None) -> Actor:
        """Who ``user_id`` is now; the Slack delivery being handled for them remembers it, so its
        refusal's audit entry needs no second look-up (bot/slack/listeners/__init__.py)."""
        groups = [g for g in await self._configured_groups() if user_id in await self.members(g)]
        actor = self._policy.actor(user_id, name or await self.name(user_id), groups)
        if self.delegations is not None:
            actor = await self.delegations.with_delegated_roles(actor)
        delivery = current_delivery()
        if delivery is not None and delivery.user == user_id:
            delivery.actor = actor
        return actor

    async def user_id(self, person: PersonRef) -> str:
        """A person named in a command: picked (their id), or typed by name and looked up (command_people.py)."""
        if person.user_id:
            return person.user_id
        return await PersonLookup(self._client, self._policy, self.name).user_id(person.name)

    async def members(self, group_id: str) -> frozenset[str]:
        """The group's user ids; a group Slack cannot list counts as empty (logged), never as everyone."""
        now = self._clock.now()
        cached = self._groups.get(group_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            response = await self._client.usergroups_users_list(usergroup=group_id)
            users = frozenset(str(u) for u in response.get("users") or [])
        except (SlackApiError, ClientError, TimeoutError, OSError) as exc:  # any failure shape (api_failures.py)
            log.warning("user group unreadable", group=group_id, error=describe(exc, 0).text)
            users = cached[1] if cached is not None else frozenset()
        self._groups[group_id] = (now, users)
        return users

    async def name(self, user_id: str) -> str:
        if user_id in self._names:
            return self._names[user_id]
        name = user_id
        try:
            response = await self._client.users_info(user=user_id)
            user = response.get("user") or {}
            profile = user.get("profile") or {}
            name = str(profile.get("display_name") or user.get("name") or profile.get("real_name") or user_id)
        except (SlackApiError, ClientError, TimeoutError, OSError) as exc:
            log.info("user name unknown", user=user_id, error=describe(exc, 0).text)
        self._names[user_id] = name
        return name

    async def _configured_groups(self) -> list[str]:
        ids = {member for members in self._policy.members.values() for member in members}
        return sorted(i for i in ids if i.startswith(GROUP_PREFIX))
