"""A person typed by name in a command (`/ion delegate lead lou friday`), found in the team directory.

Slack sends a typed ``@lou`` as plain text (the manifest does not escape mentions), so the bot looks
the name up: the workspace's members (users.list), or, when Slack will not list them, the people
ION_ROLES names (users.info). A name matches a member's username, display name or full name,
ignoring case. Exactly one match is that person; several are refused with their ids, none with
what to do instead, and nothing is changed either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.errors import Refused
from bot.engine.permissions import Policy
from bot.slack.delivery.api_failures import describe

log = structlog.get_logger(__name__)

MAX_PAGES = 50  # 200 members a page: a workspace of 10,000 people
_FAILURES = (SlackApiError, ClientError, TimeoutError, OSError)


@dataclass(frozen=True)
class Member:
    """A person of the workspace as the lookup compares them."""

    user_id: str
    names: frozenset[str]  # casefolded username, display name and full name
    shown: str

    @classmethod
    def from_slack(cls, user: Mapping[str, Any]) -> Member:
        profile = user.get("profile") or {}
        given = [user.get("name"), profile.get("display_name"), profile.get("real_name"), user.get("real_name")]
        names = [str(n) for n in given if n]
        user_id = str(user.get("id", ""))
        return cls(user_id, frozenset(n.casefold() for n in names), names[0] if names else user_id)


class PersonLookup:
    """Finds the one workspace member a typed name means, else refuses in a sentence."""

    def __init__(self, client: AsyncWebClient, policy: Policy, name_of: Callable[[str], Awaitable[str]]) -> None:
        self._client = client
        self._policy = policy
        self._name_of = name_of

    async def user_id(self, typed: str) -> str:
        """The user id of the one member called ``typed``; Refused when there are none or several."""
        wanted = typed.removeprefix("@").casefold()
        found = [m for m in await self._members() if wanted in m.names]
        if len(found) == 1:
            return found[0].user_id
        if found:
            listed = ", ".join(f"{m.shown} ({m.user_id})" for m in sorted(found, key=lambda m: m.user_id))
            raise Refused(
                f"Several people are called {typed!r}: {listed}. Pick the one you mean from the @ menu, or give "
                "their user id. Nothing was changed."
            )
        raise Refused(
            f"Nobody in this workspace is called {typed!r}. Pick them from the @ menu (a mention), or type their "
            "Slack name as their profile shows it, or their user id (U...). Nothing was changed."
        )

    async def _members(self) -> list[Member]:
        """Everyone users.list pages through (not deactivated, not a bot); ION_ROLES' people when it fails."""
        members: list[Member] = []
        cursor = ""
        try:
            for _ in range(MAX_PAGES):
                response = await self._client.users_list(limit=200, cursor=cursor or None)
                for user in response.get("members") or []:
                    if not (user.get("deleted") or user.get("is_bot") or user.get("id") == "USLACKBOT"):
                        members.append(Member.from_slack(user))
                cursor = str((response.get("response_metadata") or {}).get("next_cursor") or "")
                if not cursor:
                    return members
            return members
        except _FAILURES as exc:  # no users:read scope, or Slack is down: the people ION_ROLES names
            log.info("users.list unreadable; looking in ION_ROLES", error=describe(exc, 0).text)
        return [await self._role_member(user_id) for user_id in self._role_people()]

    def _role_people(self) -> list[str]:
        ids = {member for members in self._policy.members.values() for member in members}
        return sorted(i for i in ids if i.startswith(("U", "W")))

    async def _role_member(self, user_id: str) -> Member:
        name = await self._name_of(user_id)
        return Member(user_id, frozenset({name.casefold()}), name)
