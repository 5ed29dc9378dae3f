"""Every outgoing Slack call goes through the outbox: stored first, delivered now if Slack answers,
and otherwise delivered later by a background pass, once: a claim in the database makes one
deliverer (of this process, or of a replica on the same database) send each message.

Rate limits (429 + Retry-After), 5xx and dropped connections are retried by slack_sdk's own
retry handlers inside one attempt; what still fails stays in the outbox with its error, so an
outage delays a message but never loses it. Ephemeral replies are not worth a late delivery
(the person has moved on), so they are tried once and dropped when they fail.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import structlog
from aiohttp import ClientError
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.lease import new_owner_id
from bot.engine.ports import JSON, Clock, OutboxMessage, OutboxStore

log = structlog.get_logger(__name__)

# Methods the outbox may replay later; everything else is sent once, now.
LATER_OK = frozenset({"chat.postMessage", "chat.update"})
EPHEMERAL = "chat.postEphemeral"
CLAIM = timedelta(minutes=5)  # how long a deliverer holds a message; a try is cut off at half of it
ROUNDS = 3  # sends of one message in a row while it keeps being replaced (see Outbox._deliver)

Delivered = Callable[[OutboxMessage, str | None], Awaitable[None]]


def with_retries(client: AsyncWebClient, *, rate_limit_retries: int = 3, server_retries: int = 2) -> AsyncWebClient:
    """Give ``client`` the three retry handlers (once; calling again changes nothing)."""
    kinds = {type(h) for h in client.retry_handlers}
    wanted: list[AsyncRetryHandler] = []
    if AsyncConnectionErrorRetryHandler not in kinds:
        wanted.append(AsyncConnectionErrorRetryHandler(max_retry_count=2))
    if AsyncRateLimitErrorRetryHandler not in kinds:
        wanted.append(AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries))
    if AsyncServerErrorRetryHandler not in kinds:
        wanted.append(AsyncServerErrorRetryHandler(max_retry_count=server_retries))
    client.retry_handlers.extend(wanted)
    return client


class Outbox:
    """Enqueue with a dedupe key, then deliver; ``deliver_pending`` is the later pass.

    Each delivery holds a claim on the message in the database (``owner`` names this process), so
    of several passes, here or on replicas sharing the database, one sends it. A try is cut off at
    half the claim, so no claim expires while its owner may still be sending (a long Retry-After);
    a crashed owner's claim expires and another pass takes the message over.
    """

    def __init__(
        self,
        store: OutboxStore,
        client: AsyncWebClient,
        clock: Clock,
        *,
        owner: str | None = None,
        claim: timedelta = CLAIM,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._owner = owner or new_owner_id()
        self._claim = claim
        self._on_delivered: list[Delivered] = []

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    def on_delivered(self, hook: Delivered) -> None:
        """Called after each successful delivery, now or later (the notifier learns card ts this way)."""
        self._on_delivered.append(hook)

    async def send(
        self, method: str, args: dict[str, JSON], dedupe_key: str, *, replace: bool = False
    ) -> OutboxMessage:
        """Store the call once per ``dedupe_key`` and try it now; returns the stored message
        (``delivered_ts`` set when it went out). A second send with the same key sends nothing,
        unless ``replace``: then its payload replaces the key's (the newest card update wins)."""
        channel = str(args.get("channel", ""))
        payload: dict[str, JSON] = {"method": method, "args": args}
        message, claimed = await self._store.enqueue_and_claim(
            channel, payload, dedupe_key, self._owner, self._claim, replace=replace
        )
        if not claimed:
            return message  # delivered already, or another pass (here or on a replica) is sending it
        return await self._deliver(message, claimed=True)

    async def deliver_pending(self, limit: int = 50) -> int:
        """The later pass: try every undelivered message once, oldest first; returns how many went out."""
        sent = 0
        for message in await self._store.pending(limit):
            done = await self._deliver(message)
            sent += done.delivered_at is not None
        return sent

    async def run_forever(self, interval_seconds: float = 30.0) -> None:
        """The background loop `ionbot serve` starts: a delivery pass every ``interval_seconds``."""
        while True:
            try:
                await self.deliver_pending()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("outbox pass failed")
            await self._clock.sleep(interval_seconds)

    async def _deliver(self, message: OutboxMessage, *, claimed: bool = False) -> OutboxMessage:
        """``claimed``: ``message`` is already held by this deliverer (``send`` claimed it as it stored it)."""
        # A message replaced while it was being sent (a newer card update) goes again, newest payload.
        for round_ in range(ROUNDS):
            held = message if claimed and round_ == 0 else None
            held = held or await self._store.claim(message.dedupe_key, self._owner, self._claim)
            if held is None:
                return message  # delivered already, or another pass (here or on a replica) is sending it
            message, settled = await self._attempt(held)
            if settled:
                return message
            await self._store.release(message.dedupe_key, self._owner)
        return message  # still replaced after every round: the later pass sends the newest

    async def _attempt(self, message: OutboxMessage) -> tuple[OutboxMessage, bool]:
        """One try under our claim; False when the message was replaced meanwhile (claim still ours)."""
        method = str(message.payload.get("method", "chat.postMessage"))
        args: dict[str, Any] = dict(message.payload.get("args") or {})
        try:
            async with asyncio.timeout(self._claim.total_seconds() / 2):
                response = await self._client.api_call(method, json=args)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or exc.response.status_code)
            return await self._failed(message, method, f"Slack answered {error}", permanent=_permanent(exc))
        except (ClientError, TimeoutError, OSError) as exc:
            return await self._failed(message, method, f"{type(exc).__name__}: {exc}", permanent=False)
        ts = response.get("ts") or response.get("message_ts")
        if not await self._store.mark_delivered(message.id, str(ts) if ts else None):
            return message, False
        delivered = dataclasses.replace(
            message,
            attempts=message.attempts + 1,
            delivered_at=self._clock.now(),
            delivered_ts=str(ts) if ts else None,
            last_error=None,
        )
        for hook in self._on_delivered:
            try:
                await hook(delivered, delivered.delivered_ts)
            except Exception:
                log.exception("outbox delivery hook failed", dedupe_key=message.dedupe_key)
        return delivered, True

    async def _failed(
        self, message: OutboxMessage, method: str, error: str, *, permanent: bool
    ) -> tuple[OutboxMessage, bool]:
        if permanent or method not in LATER_OK:
            # Slack will never accept it (or it is not worth sending late): record and stop retrying.
            settled = await self._store.mark_delivered(message.id, None)
            await self._store.mark_failed(message.id, f"dropped: {error}")
            log.warning("slack message dropped", method=method, error=error, dedupe_key=message.dedupe_key)
            return message, settled
        await self._store.mark_failed(message.id, error)
        await self._store.release(message.dedupe_key, self._owner)
        log.warning("slack message kept for later", method=method, error=error, dedupe_key=message.dedupe_key)
        return message, True


def _permanent(exc: SlackApiError) -> bool:
    """Errors Slack answers with 200 (bad arguments, unknown channel): retrying cannot help."""
    status = int(exc.response.status_code)
    return status < 500 and status != 429
