"""Every outgoing Slack call goes through the outbox: stored first, delivered now if Slack answers,
and otherwise delivered later by a background pass, once: a claim in the database makes one
deliverer (of this process, or of a replica on the same database) send each message.

Short rate limits (429 + a Retry-After of a few seconds), 5xx and dropped connections are retried
by slack_sdk's own retry handlers inside one attempt, and a try is cut off after ATTEMPT by the
bot's clock. Whatever still fails, in whatever shape (bot/slack/delivery/api_failures.py: HTML error pages,
resets, timeouts), releases its claim with the error recorded, so the next pass, within
ATTEMPT + the pass interval of Slack recovering, sends it once. A longer Retry-After pauses the
later passes until it is over. Ephemeral replies are not worth a late delivery (the person has
moved on), so they are tried once and dropped when they fail.

A reply can also be staged (``stage``): the transaction that claims the request's Slack delivery
writes it too, already held by this outbox, so a refusal's record and its reply are one commit.
Delivered marks are group-committed (bot/slack/delivery/marks.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import Timer
from bot.engine.deliveries import Delivery, Rider, answer_kept, answer_to_keep, current_delivery
from bot.engine.errors import StoreUnavailable
from bot.engine.lease import new_owner_id
from bot.engine.ports import JSON, Clock
from bot.slack.delivery.api_failures import ApiFailure, BriefRateLimitRetryHandler, describe
from bot.slack.delivery.marks import DeliveredMarks
from bot.slack.delivery.ports import OutboxMessage, OutboxStore

log = structlog.get_logger(__name__)

# Methods the outbox may replay later; everything else is sent once, now.
LATER_OK = frozenset({"chat.postMessage", "chat.update"})
EPHEMERAL = "chat.postEphemeral"
CLAIM = timedelta(minutes=5)  # how long a deliverer holds a message; a crashed owner's claim expires
ATTEMPT = timedelta(seconds=30)  # one try, in-line retries included; then the claim is given back
ROUNDS = 3  # sends of one message in a row while it keeps being replaced (see Outbox._deliver)

Delivered = Callable[[OutboxMessage, str | None], Awaitable[None]]
Sender = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]  # a non-Slack method (PagerDuty events)


def with_retries(client: AsyncWebClient, *, rate_limit_retries: int = 3, server_retries: int = 2) -> AsyncWebClient:
    """Give ``client`` the three retry handlers (once; calling again changes nothing)."""

    def has(kind: type) -> bool:
        return any(isinstance(h, kind) for h in client.retry_handlers)

    wanted: list[AsyncRetryHandler] = []
    if not has(AsyncConnectionErrorRetryHandler):
        wanted.append(AsyncConnectionErrorRetryHandler(max_retry_count=2))
    if not has(AsyncRateLimitErrorRetryHandler):
        wanted.append(BriefRateLimitRetryHandler(max_retry_count=rate_limit_retries))
    if not has(AsyncServerErrorRetryHandler):
        wanted.append(AsyncServerErrorRetryHandler(max_retry_count=server_retries))
    client.retry_handlers.extend(wanted)
    return client


@dataclass
class Staged:
    """A message set to be written with the current delivery's claim (``Outbox.stage``)."""

    method: str
    args: dict[str, JSON]
    dedupe_key: str
    message: OutboxMessage  # as the claim's transaction writes it, held by this outbox
    delivery: Delivery | None
    rider: Rider | None = None
    written: bool = False  # the rider wrote it (committed once the delivery is owned)


class Outbox:
    """Enqueue with a dedupe key, then deliver; ``deliver_pending`` is the later pass.

    Each delivery holds a claim on the message in the database (``owner`` names this process), so
    of several passes, here or on replicas sharing the database, one sends it. A try is cut off
    after ``attempt`` (well inside the claim, so no claim expires while its owner may still be
    sending); a failed try gives its claim back at once; a crashed owner's claim expires and
    another pass takes the message over.
    """

    def __init__(
        self,
        store: OutboxStore,
        client: AsyncWebClient,
        clock: Clock,
        *,
        owner: str | None = None,
        claim: timedelta = CLAIM,
        attempt: timedelta = ATTEMPT,
    ) -> None:
        self._store = store
        self._client = client
        self._clock = clock
        self._owner = owner or new_owner_id()
        self._claim = claim
        self._attempt_limit = min(attempt, claim / 2)
        self._resume_at: datetime | None = None  # Slack's Retry-After: later passes wait until then
        self._on_delivered: list[Delivered] = []
        self._routes: dict[str, Sender] = {}
        self._marks = DeliveredMarks(store.mark_many_delivered)

    @property
    def client(self) -> AsyncWebClient:
        return self._client

    def on_delivered(self, hook: Delivered) -> None:
        """Called after each successful delivery, now or later (the notifier learns card ts this way)."""
        self._on_delivered.append(hook)

    def route(self, method: str, sender: Sender) -> None:
        """Deliver ``method`` through ``sender`` instead of Slack, with the same claims and later passes."""
        self._routes[method] = sender

    async def send(
        self, method: str, args: dict[str, JSON], dedupe_key: str, *, replace: bool = False
    ) -> OutboxMessage:
        """Store the call once per ``dedupe_key`` and try it now; returns the stored message
        (``delivered_ts`` set when it went out). A second send with the same key sends nothing,
        unless ``replace``: then its payload replaces the key's (the newest card update wins)."""
        channel = str(args.get("channel", ""))
        payload: dict[str, JSON] = {"method": method, "args": args}
        if self.rate_limited() and method in LATER_OK:  # Slack asked us to wait: the later pass sends it
            return await self._store.enqueue(channel, payload, dedupe_key, replace=replace)
        answer = answer_to_keep()  # the request's first answer rides along, if its row lacks it
        message, claimed = await self._store.enqueue_and_claim(
            channel, payload, dedupe_key, self._owner, self._claim, replace=replace, answer=answer
        )
        if answer is not None:
            answer_kept(answer)
        if not claimed:
            return message  # delivered already, or another pass (here or on a replica) is sending it
        return await self._deliver(message, claimed=True)

    async def stage(self, method: str, args: dict[str, JSON], dedupe_key: str) -> Staged:
        """Have the current delivery's claim, when its transaction comes (a refusal's audit entry),
        write this message too, held by this outbox: the request's effect and its reply in one
        commit. Then ``send_staged``, which also covers a claim that never came or rolled back."""
        delivery = current_delivery()
        channel = str(args.get("channel", ""))
        message, write = await self._store.stage(
            channel, {"method": method, "args": args}, dedupe_key, self._owner, self._claim
        )
        staged = Staged(method, args, dedupe_key, message, delivery)
        if delivery is not None and not delivery.owned:

            async def ride(session: Any) -> bool:
                staged.written = await write(session)
                return staged.written

            staged.rider = ride
            delivery.riders.append(ride)
        return staged

    async def send_staged(self, staged: Staged) -> OutboxMessage:
        """Deliver a staged message: the copy the claim committed, else stored and sent as ``send`` does."""
        self.unstage(staged)
        if staged.written and staged.delivery is not None and staged.delivery.owned:
            return await self._deliver(staged.message, claimed=True)
        return await self.send(staged.method, staged.args, staged.dedupe_key)

    def unstage(self, staged: Staged) -> None:
        """The claim no longer takes it along (it was sent, or will not be)."""
        if staged.delivery is not None and staged.rider in staged.delivery.riders:
            staged.delivery.riders.remove(staged.rider)

    async def queue(self, method: str, args: dict[str, JSON], dedupe_key: str) -> OutboxMessage:
        """Store the call once per ``dedupe_key`` without trying it: for a caller inside a unit of work
        (no network call there), which ``send``s the same key once the unit has committed."""
        payload: dict[str, JSON] = {"method": method, "args": args}
        return await self._store.enqueue(str(args.get("channel", "")), payload, dedupe_key)

    async def deliver_pending(self, limit: int = 50) -> int:
        """The later pass: try every undelivered message once, oldest first; returns how many went out."""
        sent = 0
        for message in await self._store.pending(limit):
            if self.rate_limited():  # the rest waits for the pass after Slack's Retry-After
                break
            done = await self._deliver(message)
            sent += done.delivered_at is not None
        return sent

    def rate_limited(self) -> bool:
        """While Slack's last Retry-After lasts (by the bot's clock)."""
        return self._resume_at is not None and self._clock.now() < self._resume_at

    async def run_forever(self, interval_seconds: float = 30.0) -> None:
        """The background loop `ionbot serve` starts: a delivery pass every ``interval_seconds``.

        A database outage is said once when it starts and once when delivery resumes, not as a
        traceback every pass (the store's health watch already says loudly that it is out).
        """
        store_out = False
        while True:
            try:
                await self.deliver_pending()
            except StoreUnavailable as error:
                if not store_out:
                    log.warning("outbox paused: the database cannot be reached; it resumes by itself", error=str(error))
                store_out = True
            except Exception:  # the loop must outlive anything else a pass meets, with its traceback
                log.exception("outbox pass failed")
            else:
                if store_out:
                    log.info("outbox delivery resumed: the database answers again")
                store_out = False
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
            response = await self._call(method, args)
        except Exception as exc:  # every failure shape: recorded, claim given back, never raised out
            failure = describe(exc, self._attempt_limit.total_seconds())
            if failure.retry_after:
                self._resume_at = self._clock.now() + timedelta(seconds=failure.retry_after)
            return await self._failed(message, method, failure)
        ts = response.get("ts") or response.get("message_ts")
        if not await self._marks.mark(message.id, str(ts) if ts else None):
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

    async def _call(self, method: str, args: dict[str, Any]) -> Any:
        """The API call, cut off after the attempt limit by the bot's clock (TimeoutError).

        Cut off as ``asyncio.timeout`` does, by cancelling this task, not the call in a task of its
        own: that task cost each message sent two more turns of the event loop (issue 14)."""
        routed = self._routes.get(method)
        task = asyncio.current_task()
        assert task is not None  # an outbox always sends from a task
        cancelling = task.cancelling()
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = self._timer(self._attempt_limit.total_seconds(), expire)
        try:
            return await (routed(args) if routed else self._client.api_call(method, json=args))
        except asyncio.CancelledError:
            if expired:
                expired = False
                if task.uncancel() <= cancelling:  # our own cut-off, not a cancel from outside
                    raise TimeoutError from None
            raise
        finally:
            timer.cancel()
            if expired:  # cut off, but the call ended another way: take our cancel request back
                task.uncancel()

    def _timer(self, seconds: float, callback: Callable[[], None]) -> Timer:
        """A timer on the bot's clock (virtual in tests), or on the loop for a clock without timers."""
        schedule: Callable[[float, Callable[[], None]], Timer] | None = getattr(self._clock, "call_later", None)
        if schedule is None:
            return asyncio.get_running_loop().call_later(seconds, callback)
        return schedule(seconds, callback)

    async def _failed(self, message: OutboxMessage, method: str, failure: ApiFailure) -> tuple[OutboxMessage, bool]:
        error, permanent = failure.text, failure.permanent
        if permanent or (method not in LATER_OK and method not in self._routes):
            # Slack will never accept it (or it is not worth sending late): record and stop retrying.
            settled = await self._store.mark_delivered(message.id, None)
            await self._store.mark_failed(message.id, f"dropped: {error}")
            log.warning("slack message dropped", method=method, error=error, dedupe_key=message.dedupe_key)
            return message, settled
        await self._store.fail_and_release(message.id, message.dedupe_key, self._owner, error)
        log.warning("slack message kept for later", method=method, error=error, dedupe_key=message.dedupe_key)
        return message, True
