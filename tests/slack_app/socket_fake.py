"""Slack's side of Socket Mode on 127.0.0.1, for the real slack_sdk Socket Mode client in tests.

Slack hands out a one-use WebSocket URL from ``apps.connections.open`` (called with the
app-level token, xapp-...), says ``hello`` as soon as the socket opens, then sends envelopes
``{"envelope_id", "type", "payload", "accepts_response_payload"}`` that the app must answer with
``{"envelope_id"[, "payload"]}`` within 3 s, or Slack delivers the same envelope again.
The fake records every ack; ``SocketModeSlackApi`` is the fake Web API with that one method added.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

from aiohttp import WSMsgType, web

from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace

JSONDict = dict[str, Any]
APP_TOKEN = "xapp-1-A0ION-1-test"
APP_ID = "A0ION"


class FakeSocketMode:
    """Serve with ``await fake.start()``; ``await fake.send(...)`` an envelope; read ``acks``; ``await fake.stop()``."""

    def __init__(self, app_token: str = APP_TOKEN) -> None:
        self.app_token = app_token
        self.acks: list[JSONDict] = []  # every message the app sent back, oldest first
        self.sent: list[JSONDict] = []  # every envelope sent to the app
        self.connections = 0  # sockets that were accepted (each one got a hello)
        self._tickets: set[str] = set()  # issued and not yet used: Slack's URLs work once
        self._numbers = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- what apps.connections.open answers -------------------------------------------------

    def open_connection(self, token: str) -> JSONDict:
        """The answer of ``apps.connections.open`` for ``token``: a fresh ws:// URL, or Slack's error."""
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = f"ticket-{next(self._numbers)}"
        self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"}

    # --- what tests do and ask --------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return any(not socket.closed for socket in self._sockets)

    async def send(
        self,
        kind: str,
        payload: JSONDict,
        *,
        envelope_id: str | None = None,
        accepts_response_payload: bool = False,
    ) -> str:
        """Send an envelope over the open socket; returns its id."""
        open_sockets = [socket for socket in self._sockets if not socket.closed]
        assert open_sockets, "the app has no open Socket Mode connection"
        envelope_id = envelope_id or f"envelope-{next(self._numbers)}"
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
        }
        self.sent.append(envelope)
        await open_sockets[-1].send_str(json.dumps(envelope))
        return envelope_id

    async def drop(self) -> None:
        """Close every open socket from Slack's side, as a Slack deploy or a network blip does."""
        for socket in list(self._sockets):
            await socket.close()

    async def redeliver(self, envelope_id: str) -> None:
        """Send an envelope again exactly as it was first sent, as Slack does when it saw no ack."""
        envelope = next(e for e in self.sent if e["envelope_id"] == envelope_id)
        await self.send(
            envelope["type"],
            envelope["payload"],
            envelope_id=envelope_id,
            accepts_response_payload=envelope["accepts_response_payload"],
        )

    def acks_of(self, envelope_id: str) -> list[JSONDict]:
        return [ack for ack in self.acks if ack.get("envelope_id") == envelope_id]

    # --- the socket -------------------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self._tickets.discard(ticket)
        socket = web.WebSocketResponse(autoping=True)  # answers the client's pings, as Slack does
        await socket.prepare(request)
        self._sockets.append(socket)
        self.connections += 1
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 3600},
                "connection_info": {"app_id": APP_ID},
            }
        )
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.acks.append(json.loads(message.data))
        return socket


class SocketModeSlackApi(FakeSlackApi):
    """The fake Web API, also answering ``apps.connections.open`` with the fake Socket Mode server's URL.

    It can hold a method's answers (``hold``/``release``), to show an envelope is acked before the
    work behind it has finished.
    """

    def __init__(self, socket_mode: FakeSocketMode, workspace: FakeSlackWorkspace | None = None) -> None:
        super().__init__(workspace)
        self.socket_mode = socket_mode
        self._held: dict[str, asyncio.Event] = {}

    def hold(self, method: str) -> None:
        """Make calls of ``method`` wait (unanswered, unrecorded) until ``release(method)``."""
        self._held[method] = asyncio.Event()

    def release(self, method: str) -> None:
        gate = self._held.pop(method, None)
        if gate is not None:
            gate.set()

    async def _handle(self, request: web.Request) -> web.Response:
        gate = self._held.get(request.match_info["method"])
        if gate is not None:
            await gate.wait()
        return await super()._handle(request)

    def _m_apps_connections_open(self, payload: JSONDict, request: web.Request) -> JSONDict:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return self.socket_mode.open_connection(token)
