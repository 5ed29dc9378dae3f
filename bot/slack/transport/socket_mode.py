"""Socket Mode: each envelope dispatched once, however often (and to whichever replica) Slack sends it.

Over HTTP a retry says so (X-Slack-Retry-Num); over a socket a redelivered slash command or button
press says nothing, so its envelope id, recorded in the shared database, is the only way to tell
it from a new press (``SharedEnvelopes`` over the ``EnvelopeLedger`` port the store implements).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog

from bot.engine.errors import StoreUnavailable
from bot.engine.ports import Clock

if TYPE_CHECKING:
    from bot.slack.app import IonApp

log = structlog.get_logger(__name__)

Arrival = Literal["new", "in_flight", "acked"]


class EnvelopeLedger(Protocol):
    """The envelopes every replica has taken, by id (bot/store/envelopes.py implements it)."""

    async def arrive(self, envelope_id: str, owner: str, stale_before: datetime) -> Arrival: ...

    async def envelope_acked(self, envelope_id: str) -> None: ...

    async def envelope_failed(self, envelope_id: str, owner: str) -> None: ...


class SharedEnvelopes:
    """The Socket Mode envelopes taken by any replica, by id, in the database (bot/store/envelopes.py).

    Over HTTP a retry says so (X-Slack-Retry-Num); a slash command or a button press redelivered
    over a socket says nothing, and may come to another replica's socket, so its envelope id, known
    to every replica, is the only way to tell it from a new press. A first delivery still unacked
    after ``in_flight_for`` belonged to a replica that died: the next delivery is worked.
    """

    def __init__(
        self, store: EnvelopeLedger, clock: Clock, owner: str, in_flight_for: timedelta = timedelta(seconds=30)
    ) -> None:
        self.store = store
        self.clock = clock
        self.owner = owner
        self.in_flight_for = in_flight_for

    async def arrived(self, envelope_id: str) -> Arrival:
        return await self.store.arrive(envelope_id, self.owner, self.clock.now() - self.in_flight_for)

    async def acked(self, envelope_id: str) -> None:
        await self.store.envelope_acked(envelope_id)

    async def failed(self, envelope_id: str) -> None:
        """Not acked: Slack will send it again, and that delivery deserves a real try."""
        await self.store.envelope_failed(envelope_id, self.owner)


def socket_mode_handler(app: IonApp, app_token: str, envelopes: SharedEnvelopes) -> Any:
    """Bolt's Socket Mode handler, dispatching each envelope once however often Slack delivers it.

    A redelivery of an acked envelope is acked again (Slack missed the first ack) and nothing
    else; one that arrives while the first is still in flight waits for that first ack.
    """
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.adapter.socket_mode.async_internals import send_async_response
    from slack_bolt.adapter.socket_mode.internals import build_headers
    from slack_bolt.request.async_request import AsyncBoltRequest
    from slack_sdk.socket_mode.response import SocketModeResponse

    from bot.slack.transport.edge import bolt_context, guard_socket_frames, screen_envelope

    handler = AsyncSocketModeHandler(app, app_token)
    guard_socket_frames(handler.client)

    async def handle_once(client: Any, req: Any) -> None:
        req.payload, refusal = screen_envelope(app, req.payload)
        if refusal is not None:  # unexpected: refused privately (or not at all), acked, never worked
            answer = SocketModeResponse(envelope_id=req.envelope_id, payload=refusal or None)
            await client.send_socket_mode_response(answer)
            return
        try:
            seen = await envelopes.arrived(req.envelope_id)
        except StoreUnavailable:  # the app answers it without the database (bot/slack/delivery/outage.py)
            seen = "new"
        if seen != "new":
            log.info("a redelivered Socket Mode envelope was not handled again", envelope_id=req.envelope_id, seen=seen)
            if seen == "acked":
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        try:
            # Bolt's run_async_bolt_app, with a context Bolt can read every body into (edge.bolt_context).
            bolt = AsyncBoltRequest(
                mode="socket_mode", body=req.payload, headers=build_headers(req), context=bolt_context()
            )
            response = await app.async_dispatch(bolt)
        except BaseException:
            with contextlib.suppress(Exception):  # the listener's error is the one to see
                await envelopes.failed(req.envelope_id)
            raise
        with contextlib.suppress(StoreUnavailable):  # the ack (and the outage answer in it) still goes
            if response.status == 200:
                await envelopes.acked(req.envelope_id)
            else:
                await envelopes.failed(req.envelope_id)
        await send_async_response(client, req, response, time.time())

    handler.client.socket_mode_request_listeners[:] = [handle_once]
    return handler


async def close_socket_mode(handler: Any) -> None:
    """Close the connection and wait for the client's own tasks, which ``close`` only cancels."""
    await handler.close_async()
    client = handler.client
    tasks = [t for t in (client.message_processor, client.current_session_monitor, client.message_receiver) if t]
    await asyncio.gather(*tasks, return_exceptions=True)
