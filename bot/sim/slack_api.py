"""A fake Slack Web API on 127.0.0.1, for the real slack_sdk client in tests and the console demo.

It answers the methods the bot uses, records every call so tests can ask what was sent
(``calls``, ``call_count``, ``last``), assigns message timestamps like Slack does, and can fail
the next N calls of a method in every shape a bad day has: 429 with or without Retry-After, a 5xx
with Slack's JSON, an HTML page or a JSON-labelled HTML page, a reset connection, no answer at all.
Views keep an id and a hash like Slack's (``views.update`` with a stale hash is refused), and
trigger ids can expire, on demand or some seconds after they were issued, as Slack's do after 3 s.
``response_url(name)`` gives a request's response_url; what is posted there is in ``responses``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from bot.sim.slack_faults import ERROR_PAGE as ERROR_PAGE
from bot.sim.slack_faults import FaultInjection, SlackFault
from bot.sim.slack_signin import FakeSignIn

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class Call:
    method: str
    payload: JSONDict
    at: float = field(default_factory=time.perf_counter)  # arrival, for benchmarks timing answers
    connection: str = ""  # the caller's address and port: one per TCP connection it opened


@dataclass
class FakeSlackWorkspace:
    """What the fake knows about the workspace: ids returned by auth.test, users, groups, channels."""

    team_id: str = "T0ION"
    bot_user_id: str = "U0IONBOT"
    bot_id: str = "B0IONBOT"
    users: dict[str, JSONDict] = field(default_factory=dict)  # user id -> {"name": ..., "real_name": ...}
    usergroups: dict[str, list[str]] = field(default_factory=dict)  # group id -> user ids
    channels: dict[str, str] = field(default_factory=dict)  # channel id -> name
    # Sign in with Slack (OpenID Connect): the app's credentials, who the authorize page signs in
    # (the person at the browser), and people whose sign-in lands in another workspace.
    client_id: str = "ION.CLIENT"
    client_secret: str = "ion-client-secret"
    signing_in: str | None = None
    other_teams: dict[str, str] = field(default_factory=dict)  # user id -> their team id


class FakeSlackApi(FaultInjection, FakeSignIn):
    """Serve with ``await api.start()``; point clients at ``api.base_url``; ``await api.stop()``."""

    def __init__(
        self, workspace: FakeSlackWorkspace | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.workspace = workspace or FakeSlackWorkspace()
        self.recorded: list[Call] = []  # answered calls
        # Told of each answered call as it is recorded, on the fake's loop (benchmarks wait on it
        # instead of polling ``recorded``, which cost the measuring process CPU the servers need).
        self.on_recorded: list[Callable[[Call], None]] = []
        self.attempts: list[Call] = []  # every arrival, faults included
        self.uploads: dict[str, bytes] = {}
        self.responses: list[tuple[str, JSONDict]] = []  # (response_url name, posted JSON), oldest first
        self.messages: dict[tuple[str, str], JSONDict] = {}  # (channel, ts) -> latest payload
        self.views: dict[str, JSONDict] = {}  # view id -> the view as last opened or updated
        self.trigger_ttl: float | None = None  # seconds an issued trigger id stays good; None: forever
        self._clock = clock
        self._issued: dict[str, float] = {}  # trigger id -> when it was issued
        self._expired: set[str] = set()
        self._faults: dict[str, list[SlackFault]] = defaultdict(list)
        self._answered: asyncio.Condition | None = None  # made in the serving loop, on first use
        self._unhang: asyncio.Event | None = None  # set at stop: hung requests end then
        self.hung = 0  # requests that arrived and are being left unanswered
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._handle)
        app.router.add_get("/api/{method}", self._handle)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{name}", self._respond)
        app.router.add_get("/openid/connect/authorize", self._authorize)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.base_url

    async def stop(self) -> None:
        if self._unhang is not None:
            self._unhang.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlackApi:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For ``AsyncWebClient(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}/api/"

    # --- questions tests ask ----------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[JSONDict]:
        """Payloads of every answered call of ``method`` (all methods when None), oldest first."""
        return [c.payload for c in self.recorded if method is None or c.method == method]

    def call_count(self, method: str) -> int:
        """Every arrival of ``method``, including ones answered with an injected fault."""
        return sum(1 for c in self.attempts if c.method == method)

    def last(self, method: str) -> JSONDict | None:
        found = self.calls(method)
        return found[-1] if found else None

    async def wait_for(self, method: str, count: int = 1) -> JSONDict:
        """The ``count``-th answered call of ``method``, waiting until it has been answered."""
        answered = self._condition()
        async with answered:
            await answered.wait_for(lambda: len(self.calls(method)) >= count)
        return self.calls(method)[count - 1]

    def response_url(self, name: str) -> str:
        """A response_url as Slack puts in a command or click (``hooks.slack.com/...`` in a real workspace)."""
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def responses_to(self, name: str) -> list[JSONDict]:
        return [payload for posted, payload in self.responses if posted == name]

    async def wait_for_response(self, name: str, count: int = 1) -> JSONDict:
        """The ``count``-th message posted to the response_url ``name``, waiting until it arrives."""
        answered = self._condition()
        async with answered:
            await answered.wait_for(lambda: len(self.responses_to(name)) >= count)
        return self.responses_to(name)[count - 1]

    def _condition(self) -> asyncio.Condition:
        if self._answered is None:
            self._answered = asyncio.Condition()
        return self._answered

    # --- trigger ids -----------------------------------------------------------------------

    def issue_trigger(self, trigger_id: str | None = None) -> str:
        """A trigger id as Slack sends with a click or command; its age counts from now (``trigger_ttl``)."""
        issued = trigger_id or f"{next(self._ids)}.{self.workspace.team_id}.trigger"
        self._issued[issued] = self._clock()
        self._expired.discard(issued)
        return issued

    def expire_trigger(self, trigger_id: str) -> None:
        """From now on ``views.open`` with ``trigger_id`` answers ``expired_trigger_id``."""
        self._expired.add(trigger_id)

    def expire_triggers_after(self, seconds: float) -> None:
        """Issued trigger ids expire ``seconds`` after issue (Slack: 3); ids never issued do not."""
        self.trigger_ttl = seconds

    def _trigger_expired(self, trigger_id: str) -> bool:
        if trigger_id in self._expired:
            return True
        issued = self._issued.get(trigger_id)
        return self.trigger_ttl is not None and issued is not None and self._clock() - issued > self.trigger_ttl

    # --- HTTP -------------------------------------------------------------------------------

    async def _payload(self, request: web.Request) -> JSONDict:
        """Query string and body merged: slack_sdk sends JSON, form fields, or query parameters."""
        data: JSONDict = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            data.update(await self._body(request))
        for key in ("blocks", "view", "files", "attachments"):
            if isinstance(data.get(key), str):  # form-encoded clients send JSON-in-a-string
                with contextlib.suppress(ValueError):
                    data[key] = json.loads(data[key])
        return data

    @staticmethod
    async def _body(request: web.Request) -> JSONDict:
        if request.content_type == "application/json":
            body = await request.json()
            return body if isinstance(body, dict) else {}
        if request.content_type == "multipart/form-data":
            form = await request.post()
            return {k: v for k, v in form.items() if isinstance(v, str)}
        return dict(parse_qsl(await request.text(), keep_blank_values=True))

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await self._payload(request)
        self.attempts.append(Call(method, payload))
        fault = self._take_fault(method)
        if fault is not None:
            return await self._faulty(request, fault)
        peer = request.transport.get_extra_info("peername") if request.transport is not None else None
        call = Call(method, payload, connection=f"{peer[0]}:{peer[1]}" if peer else "")
        self.recorded.append(call)
        for listener in self.on_recorded:
            listener(call)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        body: JSONDict = handler(payload, request)
        answered = self._condition()
        async with answered:
            answered.notify_all()
        return web.json_response(body)

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        self.uploads[file_id] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    async def _respond(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.responses.append((request.match_info["name"], payload if isinstance(payload, dict) else {}))
        answered = self._condition()
        async with answered:
            answered.notify_all()
        return web.Response(text="ok")

    # --- methods ----------------------------------------------------------------------------

    def _next_ts(self) -> str:
        return f"1761580800.{next(self._ts):06d}"

    def _m_auth_test(self, payload: JSONDict, request: web.Request) -> JSONDict:
        w = self.workspace
        return {
            "ok": True,
            "url": "https://ion-test.slack.com/",
            "team": "ION test",
            "user": "ionbot",
            "team_id": w.team_id,
            "user_id": w.bot_user_id,
            "bot_id": w.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, payload: JSONDict, request: web.Request) -> JSONDict:
        channel = str(payload.get("channel", ""))
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not payload.get("text") and not payload.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message = {"type": "message", "user": self.workspace.bot_user_id, "ts": ts, **payload}
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, payload: JSONDict, request: web.Request) -> JSONDict:
        key = (str(payload.get("channel", "")), str(payload.get("ts", "")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[key] = {**self.messages[key], **payload}
        return {"ok": True, "channel": key[0], "ts": key[1], "text": payload.get("text", "")}

    def _m_chat_postEphemeral(self, payload: JSONDict, request: web.Request) -> JSONDict:
        if not payload.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _view(self, payload: JSONDict, view_id: str | None = None) -> JSONDict:
        view = payload.get("view")
        if not isinstance(view, dict):
            return {"ok": False, "error": "invalid_arguments"}
        view_id = view_id or f"V{next(self._ids):08d}"
        stored = {**view, "id": view_id, "hash": f"{next(self._ids)}.hash"}
        self.views[view_id] = stored
        return {"ok": True, "view": stored}

    def _m_views_open(self, payload: JSONDict, request: web.Request) -> JSONDict:
        trigger_id = str(payload.get("trigger_id") or "")
        if not trigger_id:
            return {"ok": False, "error": "invalid_trigger_id"}
        if self._trigger_expired(trigger_id):
            return {"ok": False, "error": "expired_trigger_id"}
        return self._view(payload)

    def _m_views_update(self, payload: JSONDict, request: web.Request) -> JSONDict:
        view_id = str(payload.get("view_id") or "")
        if not view_id:
            return self._view(payload) if payload.get("external_id") else {"ok": False, "error": "not_found"}
        current = self.views.get(view_id)
        if current is None:
            return {"ok": False, "error": "not_found"}
        if payload.get("hash") and payload["hash"] != current.get("hash"):
            return {"ok": False, "error": "hash_conflict"}
        return self._view(payload, view_id)

    def _m_views_publish(self, payload: JSONDict, request: web.Request) -> JSONDict:
        if not payload.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return self._view(payload)

    def _m_files_getUploadURLExternal(self, payload: JSONDict, request: web.Request) -> JSONDict:
        file_id = f"F{next(self._ids):08d}"
        return {
            "ok": True,
            "file_id": file_id,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
        }

    def _m_files_completeUploadExternal(self, payload: JSONDict, request: web.Request) -> JSONDict:
        files = payload.get("files")
        if not isinstance(files, list) or not files:
            return {"ok": False, "error": "invalid_arguments"}
        missing = [f.get("id") for f in files if f.get("id") not in self.uploads]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        answered = [{"id": f["id"], "title": f.get("title") or "", "size": len(self.uploads[f["id"]])} for f in files]
        return {"ok": True, "files": answered}

    def _m_conversations_info(self, payload: JSONDict, request: web.Request) -> JSONDict:
        channel = str(payload.get("channel", ""))
        name = self.workspace.channels.get(channel)
        if name is None:
            return {"ok": False, "error": "channel_not_found"}
        return {"ok": True, "channel": {"id": channel, "name": name, "is_channel": True, "is_member": True}}

    def _m_users_info(self, payload: JSONDict, request: web.Request) -> JSONDict:
        user_id = str(payload.get("user", ""))
        user = self.workspace.users.get(user_id)
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        profile = {"display_name": user.get("name", ""), "real_name": user.get("real_name", "")}
        return {
            "ok": True,
            "user": {"id": user_id, "tz": user.get("tz", "America/Chicago"), **user, "profile": profile},
        }

    def _m_users_list(self, payload: JSONDict, request: web.Request) -> JSONDict:
        """Every user, ``limit`` a page and ``cursor`` the next, as Slack pages its members; an entry's
        ``deleted``, ``is_bot`` and ``display_name`` are answered as given (the name is the display name)."""
        users = list(self.workspace.users.items())
        start = int(str(payload.get("cursor") or 0))
        end = start + int(str(payload.get("limit") or 200))
        members = [
            {
                "id": user_id,
                "name": user.get("name", ""),
                "real_name": user.get("real_name", ""),
                "deleted": bool(user.get("deleted", False)),
                "is_bot": bool(user.get("is_bot", False)),
                "profile": {
                    "display_name": user.get("display_name", user.get("name", "")),
                    "real_name": user.get("real_name", ""),
                },
            }
            for user_id, user in users[start:end]
        ]
        return {
            "ok": True,
            "members": members,
            "response_metadata": {"next_cursor": str(end) if end < len(users) else ""},
        }

    def _m_usergroups_users_list(self, payload: JSONDict, request: web.Request) -> JSONDict:
        group = str(payload.get("usergroup", ""))
        if group not in self.workspace.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.workspace.usergroups[group])}

    def _m_users_lookupByEmail(self, payload: JSONDict, request: web.Request) -> JSONDict:
        """Matches the ``email`` of ``workspace.users`` entries, case-insensitively, as Slack does."""
        email = str(payload.get("email", "")).strip().lower()
        for user_id, user in self.workspace.users.items():
            if str(user.get("email", "")).lower() == email and email:
                profile = {"display_name": user.get("name", ""), "real_name": user.get("real_name", ""), "email": email}
                return {"ok": True, "user": {"id": user_id, **user, "profile": profile}}
        return {"ok": False, "error": "users_not_found"}
