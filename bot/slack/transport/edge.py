"""The Slack edge: POST /slack/events and the Socket Mode frames, before any listener sees them.

Over HTTP the signature is checked on the raw bytes first; only a signed request is read, and
only a readable one whose fields have the shapes the listeners use (bot/slack/transport/shapes.py) reaches
Bolt. Whatever is refused gets a 4xx and one warning line, never a traceback; a signed request
that is merely unexpected (a click without actions) is answered privately where Slack allows it
(the command's ack, an ephemeral, the dialog itself). Over Socket Mode, an unreadable frame is
logged and dropped (acked when it names its envelope, so Slack does not send it again), and an
envelope is screened like an HTTP body.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import structlog
from aiohttp import web

from bot.safe_text import clean_json
from bot.slack.transport.shapes import Body, Unreadable, addressee, kind_of, problem, read_body

if TYPE_CHECKING:
    from slack_bolt.request.async_request import AsyncBoltRequest
    from slack_bolt.response import BoltResponse

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Held:
    """A request as read off the wire: its exact bytes (what the signature covers) and headers."""

    raw: bytes
    headers: Mapping[str, str]
    content_type: str
    query: str


MAX_AGE_SECONDS = 5 * 60  # Slack's own rule: an older timestamp may be a replay
_TIMESTAMP = re.compile(r"[0-9]{1,15}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
_WHAT = {"command": "command", "block_actions": "click", "view_submission": "dialog"}
_AGAIN = {
    "command": "Type it again (/ion help lists the commands)",
    "block_actions": "Press the button again on a fresh card (/ion status)",
    "view_submission": "Open the dialog again from its card",
}
_SOCKET_KINDS = frozenset({"slash_commands", "interactive", "events_api"})


class EdgeApp(Protocol):
    """What the edge needs of the app (bot/slack/app.py's IonApp): Bolt's dispatch, the secret its
    HTTP requests are signed with, and a private word to a person after the ack."""

    edge_secret: str | None

    async def async_dispatch(self, req: AsyncBoltRequest) -> BoltResponse: ...

    def say_later(self, channel: str, user: str, text: str) -> None: ...


def signature_problem(raw: bytes, headers: Mapping[str, str], secret: str | None, now: float) -> str | None:
    """Why the request is not provably Slack's, or None: Slack's v0 HMAC over the exact bytes."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not secret:
        return "the bot has no signing secret to check requests with"
    if timestamp is None or signature is None:
        return "it is not signed (no X-Slack-Signature or X-Slack-Request-Timestamp)"
    if not _TIMESTAMP.fullmatch(timestamp):
        return "its X-Slack-Request-Timestamp is not a number"
    if abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return "its timestamp is more than five minutes away from now"
    if not _SIGNATURE.fullmatch(signature):
        return "its X-Slack-Signature is not v0= and 64 hex digits"
    signed = b"v0:" + timestamp.encode() + b":" + raw
    expected = "v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "its signature does not match"
    return None


class SlackEdge:
    """One app's POST /slack/events: verify, read, screen, then dispatch to Bolt."""

    def __init__(self, app: EdgeApp, *, now: Callable[[], float] = time.time) -> None:
        self.app = app
        self.now = now

    async def handle(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return refused(413, "its body is larger than the endpoint takes")
        return await self.handle_bytes(Held(raw, dict(request.headers), request.content_type, request.query_string))

    async def handle_bytes(self, request: Held) -> web.Response:
        """The request as read off the wire (now, or held while the bot was starting)."""
        raw = request.raw
        found = signature_problem(raw, request.headers, self.app.edge_secret or None, self.now())
        if found is not None:
            return refused(401, found)
        try:
            body = read_body(raw, request.content_type)
        except Unreadable as unreadable:
            return refused(400, str(unreadable), signed=True)
        found = problem(body)
        if found is not None:
            return await decline(self.app, body, found)
        try:
            bolt = _bolt_request(raw.decode("utf-8"), body, request)
        except Exception as exc:  # Bolt's own context reading: a shape the screen let through
            return refused(400, f"Bolt could not read it ({type(exc).__name__})", signed=True)
        response = await self.app.async_dispatch(bolt)
        if response.status >= 500:  # a listener failed before answering (Bolt logged why)
            return await decline(self.app, body, "the bot failed while handling it")
        from slack_bolt.adapter.aiohttp import to_aiohttp_response

        return await to_aiohttp_response(response)


def refused(status: int, reason: str, *, signed: bool = False) -> web.Response:
    """A 4xx for a request nobody can be answered about, with its one warning line."""
    log.warning("slack request refused", status=status, reason=reason, signed=signed)
    return web.json_response({"ok": False, "error": reason}, status=status)


async def decline(app: EdgeApp, body: Body, reason: str) -> web.Response:
    """A signed request the bot will not handle: a private sentence where Slack allows one, else a 400."""
    reply = refusal_reply(app, body, reason)
    if reply is None:
        return refused(400, reason, signed=True)
    return web.json_response(reply) if reply else web.Response(status=200)


def refusal_reply(app: EdgeApp, body: Body, reason: str) -> dict[str, Any] | None:
    """The ack payload that refuses ``body`` privately ({} when an ephemeral was sent instead); None
    when nobody can be told. Logs the one warning line either way, when someone can be told."""
    who = addressee(body)
    what = _WHAT.get(who.kind)
    if what is None or who.user is None:
        return None
    text = (
        f"The bot could not handle this {what}: {reason}. Nothing was changed. {_AGAIN[who.kind]}; "
        "if it keeps happening, tell the bot's maintainers."
    )
    if who.kind == "block_actions":
        if who.channel is None:
            return None
        app.say_later(who.channel, who.user, text)
    log.warning("signed slack request declined", reason=reason, kind=who.kind, user=who.user, channel=who.channel)
    if who.kind == "command":
        return {"response_type": "ephemeral", "text": text}
    if who.kind == "view_submission":
        from bot.slack.blocks.kit import section

        title, close = {"type": "plain_text", "text": "ION"}, {"type": "plain_text", "text": "Close"}
        view = {"type": "modal", "title": title, "close": close, "blocks": [section(text)]}
        return {"response_action": "update", "view": view}
    return {}


def bolt_context() -> dict[str, Any]:
    """What a Bolt request's context starts with: a logger. Bolt gives the context its own only in
    dispatch, but logs to it while reading a body whose ``response_urls`` has more than one entry
    (a modal with several inputs that ask for one), and failed on that body without it."""
    return {"logger": logging.getLogger("slack_bolt.App")}


def _bolt_request(text: str, body: Body, request: Held) -> AsyncBoltRequest:
    """Bolt's request around the body read here (Bolt's own reader drops a command whose text says
    "payload"); the raw text stays, so Bolt's signature check sees the signed bytes."""
    from slack_bolt.context.async_context import AsyncBoltContext
    from slack_bolt.request.async_internals import build_async_context
    from slack_bolt.request.async_request import AsyncBoltRequest

    bolt = AsyncBoltRequest(body="", query=request.query, headers=dict(request.headers))
    bolt.raw_body = text
    bolt.body = body
    bolt.context = build_async_context(AsyncBoltContext(bolt_context()), body)
    return bolt


# --- Socket Mode ---------------------------------------------------------------------------


def guard_socket_frames(client: Any) -> None:
    """Make the Socket Mode client drop an unreadable frame with one warning line instead of a
    traceback (slack_sdk parses each frame and builds its request without checking either)."""
    from slack_sdk.socket_mode.response import SocketModeResponse

    running: set[asyncio.Future[None]] = set()  # slack_sdk keeps no reference to these either

    async def process_message() -> None:
        raw = await client.message_queue.get()
        if raw is None:
            return
        envelope = _envelope(raw)
        if isinstance(envelope, str):
            envelope_id = _envelope_id(raw)
            log.warning("socket mode frame dropped", reason=envelope, envelope_id=envelope_id)
            if envelope_id is not None:  # acked, so Slack does not deliver it again
                await client.send_socket_mode_response(SocketModeResponse(envelope_id=envelope_id))
            return
        task = asyncio.ensure_future(client.run_message_listeners(envelope, raw))
        running.add(task)
        task.add_done_callback(running.discard)

    client.process_message = process_message


def _envelope(raw: Any) -> dict[str, Any] | str:
    """The frame as a message for slack_sdk's listeners, or why it cannot be one."""
    try:
        message = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return "the frame is not JSON"
    if not isinstance(message, dict):
        return "the frame is not a JSON object"
    if "envelope_id" not in message and message.get("type") not in _SOCKET_KINDS:
        return message  # hello, disconnect: slack_sdk's own business
    if not isinstance(message.get("envelope_id"), str) or not message["envelope_id"]:
        return "the envelope has no envelope_id"
    if not isinstance(message.get("type"), str) or not isinstance(message.get("payload"), dict):
        return "the envelope has no type or its payload is not an object"
    return message


def _envelope_id(raw: Any) -> str | None:
    try:
        found = json.loads(raw).get("envelope_id")
    except (TypeError, ValueError, RecursionError, AttributeError):
        return None
    return found if isinstance(found, str) and found else None


def screen_envelope(app: EdgeApp, payload: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A Socket Mode payload cleaned, and the ack payload that refuses it (None: dispatch it).

    An envelope that cannot be answered at all is acked with nothing: Slack must not send it again."""
    body = clean_json(payload)
    found = problem(body)
    if found is None:
        return body, None
    reply = refusal_reply(app, body, found)
    if reply is None:
        log.warning("socket mode envelope refused", reason=found, kind=kind_of(body))
    return body, reply or {}
