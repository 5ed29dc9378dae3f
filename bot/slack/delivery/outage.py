"""Answers that need no database: when the state store is out, the person still hears why.

Everything the bot normally says goes through the outbox, a table; with the database down that
path is closed, so these answers go the two ways Slack offers without it: the body of the ack
(a slash command, or a dialog's replacement view, when the outage is already known) and the
request's ``response_url`` (a click, or a command or dialog whose work met the outage half-way).
Nothing here touches the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import structlog
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.engine.errors import StoreUnavailable

if TYPE_CHECKING:
    from bot.slack.deps import StoreWatch

log = structlog.get_logger(__name__)

KNOWN_DOWN = "The bot cannot reach its database; nothing was changed. Try again in a minute."
MET_HALF_WAY = (
    "The bot cannot reach its database, so it stopped here; nothing more was changed. "
    "Try again in a minute (`/ion status` then shows where things stand)."
)


def known_down_view() -> dict[str, Any]:
    """The modal that replaces a dialog submitted while the database is known to be out."""
    from bot.slack.blocks.kit import section

    title, close = {"type": "plain_text", "text": "ION"}, {"type": "plain_text", "text": "Close"}
    return {"type": "modal", "title": title, "close": close, "blocks": [section(KNOWN_DOWN)]}


def known_down(health: StoreWatch | None) -> bool:
    """True while the store's health watch knows the database is out (see bot/store/health.py)."""
    return health is not None and health.known_down


def response_url(body: dict[str, Any]) -> str | None:
    """Where Slack takes a late answer to this request without the Web API (and without our outbox)."""
    url = body.get("response_url")
    if not url:
        urls = body.get("response_urls") or []
        url = urls[0].get("response_url") if urls and isinstance(urls[0], dict) else None
    return str(url) if url else None


async def tell(url: str | None, text: str) -> None:
    """Say ``text`` privately through ``url``; a failure is logged (there is nowhere else to say it)."""
    if not url:
        log.warning("an answer during a database outage had no response_url to go to", text=text)
        return
    try:
        response = await AsyncWebhookClient(url).send(text=text, response_type="ephemeral", replace_original=False)
    except Exception as error:  # the person cannot be told; the log says so
        log.warning("could not answer through response_url during a database outage", error=str(error))
        return
    if response.status_code >= 300:
        log.warning("response_url refused the outage answer", status=response.status_code)


@asynccontextmanager
async def answering(health: StoreWatch | None, body: dict[str, Any]) -> AsyncIterator[None]:
    """Run a listener's work; if it meets a database outage, say so through the response_url."""
    try:
        yield
    except StoreUnavailable as error:
        if health is not None:
            await health.noticed(error)
        url = response_url(body)
        if url is None:  # a dialog without response_urls: one line in the log is all that can be said
            who = body.get("user")
            log.warning(
                "a request met a database outage and had no response_url; nobody could be told",
                error=str(error),
                kind=body.get("type"),
                user=who.get("id") if isinstance(who, dict) else None,
            )
            return
        log.warning("a request met a database outage; answered through its response_url", error=str(error))
        await tell(url, MET_HALF_WAY)
