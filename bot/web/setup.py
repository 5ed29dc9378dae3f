"""Choosing the timeline's gate from the settings: Slack sign-in, IAP, or a page saying what to set.

Never open: a missing client id, secret, session secret or public URL gives a gate that answers
every page with the sentence naming them (503), not a timeline without sign-in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.engine.permissions import Policy
from bot.engine.ports import Actor, Clock
from bot.slack.identity import Directory
from bot.web.access import Gate, NotConfigured
from bot.web.iap import IapGate
from bot.web.sessions import Signer
from bot.web.slack_signin import SlackSignIn


def slack_problems(settings: Settings) -> list[str]:
    wanted = {
        "SLACK_CLIENT_ID": settings.slack_client_id,
        "SLACK_CLIENT_SECRET": settings.slack_client_secret,
        "ION_WEB_SESSION_SECRET": settings.web_session_secret,
        "ION_TIMELINE_URL": settings.timeline_url,
    }
    problems = [name for name, value in wanted.items() if not value]
    if settings.web_session_secret and len(settings.web_session_secret) < 32:
        problems.append("ION_WEB_SESSION_SECRET of 32+ characters")
    return problems


class WorkspaceId:
    """The installing workspace: ION_SLACK_TEAM_ID, else the bot token's own (auth.test, asked once)."""

    def __init__(self, configured: str | None, client: AsyncWebClient) -> None:
        self._team = configured
        self._client = client

    async def __call__(self) -> str:
        if self._team is None:
            response = await self._client.auth_test()
            self._team = str(response["team_id"])
        return self._team


def web_gate(settings: Settings, policy: Policy, clock: Clock) -> Gate:
    """The gate `ionbot serve` puts in front of the timeline."""
    bot_client = AsyncWebClient(
        token=settings.slack_bot_token, base_url=settings.slack_api_url or AsyncWebClient.BASE_URL
    )
    directory = Directory(policy, bot_client, clock)
    if settings.web_auth == "iap":
        if not settings.iap_audience:
            return NotConfigured(
                "The timeline is set to IAP sign-in (ION_WEB_AUTH=iap) but ION_IAP_AUDIENCE is not set."
            )
        return IapGate(settings.iap_audience, settings.iap_certs_url, _by_email(bot_client, directory))
    problems = slack_problems(settings)
    if problems:
        return NotConfigured(
            "The timeline needs Sign in with Slack set up before it shows anything; set " + ", ".join(problems) + "."
        )
    base = str(settings.timeline_url)
    return SlackSignIn(
        client_id=str(settings.slack_client_id),
        client_secret=str(settings.slack_client_secret),
        base_url=base,
        signer=Signer(str(settings.web_session_secret)),
        clock=clock,
        team_id=WorkspaceId(settings.slack_team_id, bot_client),
        resolve=directory.actor,
        api_url=settings.slack_api_url,
        secure_cookies=base.startswith("https://"),
    )


def _by_email(client: AsyncWebClient, directory: Directory) -> Callable[[str], Awaitable[Actor | None]]:
    async def actor(email: str) -> Actor | None:
        try:
            found = await client.users_lookupByEmail(email=email)
        except SlackApiError:
            return None
        user = found.get("user") or {}
        return await directory.actor(str(user.get("id")), str(user.get("name") or email))

    return actor
