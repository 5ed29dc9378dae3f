"""A fake PagerDuty on 127.0.0.1: the REST API v2 ``GET /oncalls`` and the Events API v2
``POST /v2/enqueue``, for the bot's real HTTP client in tests and the demo.

On-call is set per schedule (``set_oncall``); events are recorded (``events``) and each dedup key
keeps PagerDuty's incident state (triggered -> acknowledged -> resolved), so a test can ask what
PagerDuty saw. Failure injection like bot/sim/slack_api.py: the next N calls of a path answer 429
(with or without Retry-After) or a 5xx. REST calls must carry ``Authorization: Token token=...``.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]
ONCALLS = "oncalls"
EVENTS = "enqueue"


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: int | None = None


@dataclass
class OnCallEntry:
    schedule: str
    user_id: str
    name: str
    email: str
    level: int = 1


@dataclass
class FakePagerDuty:
    token: str = "pd-test-token"
    oncall: list[OnCallEntry] = field(default_factory=list)
    events: list[JSONDict] = field(default_factory=list)  # accepted events, in order
    incidents: dict[str, str] = field(default_factory=dict)  # dedup key -> triggered|acknowledged|resolved
    attempts: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # path -> arrivals
    _faults: dict[str, list[_Fault]] = field(default_factory=lambda: defaultdict(list))
    _runner: web.AppRunner | None = None
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    port: int = 0

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/oncalls", self._oncalls)
        app.router.add_post("/v2/enqueue", self._enqueue)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- set-up and questions ---------------------------------------------------------------

    def set_oncall(self, schedule: str, user_id: str, name: str, email: str, level: int = 1) -> None:
        self.oncall = [e for e in self.oncall if e.schedule != schedule] + [
            OnCallEntry(schedule, user_id, name, email, level)
        ]

    def rate_limit(self, path: str, times: int = 1, retry_after: int | None = 1) -> None:
        self._faults[path].append(_Fault(times, 429, retry_after))

    def fail(self, path: str, times: int = 1, status: int = 503) -> None:
        self._faults[path].append(_Fault(times, status))

    def actions(self, dedup_key: str) -> list[str]:
        return [e["event_action"] for e in self.events if e.get("dedup_key") == dedup_key]

    # --- handlers ---------------------------------------------------------------------------

    def _fault(self, path: str) -> web.Response | None:
        self.attempts[path] += 1
        queue = self._faults.get(path)
        while queue:
            fault = queue[0]
            if fault.remaining > 0:
                fault.remaining -= 1
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                message = "Rate Limit Exceeded" if fault.status == 429 else "Internal Server Error"
                return web.json_response({"error": {"message": message}}, status=fault.status, headers=headers)
            queue.pop(0)
        return None

    async def _oncalls(self, request: web.Request) -> web.Response:
        faulty = self._fault(ONCALLS)
        if faulty is not None:
            return faulty
        if request.headers.get("Authorization") != f"Token token={self.token}":
            return web.json_response({"error": {"message": "Invalid token", "code": 2006}}, status=401)
        wanted = set(request.query.getall("schedule_ids[]", []))
        found = [e for e in self.oncall if not wanted or e.schedule in wanted]
        body = [
            {
                "escalation_level": e.level,
                "schedule": {"id": e.schedule, "type": "schedule_reference"},
                "user": {"id": e.user_id, "type": "user", "summary": e.name, "email": e.email},
            }
            for e in found
        ]
        return web.json_response({"oncalls": body, "limit": 25, "offset": 0, "more": False})

    async def _enqueue(self, request: web.Request) -> web.Response:
        faulty = self._fault(EVENTS)
        if faulty is not None:
            return faulty
        event = await request.json()
        action = event.get("event_action")
        key = event.get("dedup_key")
        if not event.get("routing_key") or action not in ("trigger", "acknowledge", "resolve"):
            return web.json_response({"status": "invalid event", "message": "Event object is invalid"}, status=400)
        if action == "trigger" and not (event.get("payload") or {}).get("summary"):
            return web.json_response({"status": "invalid event", "message": "payload.summary is missing"}, status=400)
        key = key or f"pd-{next(self._ids)}"
        self.events.append({**event, "dedup_key": key})
        state = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}[action]
        if action == "trigger" or key in self.incidents:
            self.incidents[key] = state
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": key}, status=202)
