"""Who is looking: every page asks its ``Gate`` first, and a page is never open by default.

Three gates: Sign in with Slack (signed-cookie sessions, bot/web/slack_signin.py), Cloud Run
behind IAP (the IAP JWT, bot/web/iap.py), and the console's open local mode (127.0.0.1 only,
said on start). Nothing in the web view mutates anything, so there is no CSRF to defend
against: a forged cross-site request can only read a page the browser then cannot see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from aiohttp import web

from bot.engine.ports import Actor

Page = Callable[[web.Request], Awaitable[web.StreamResponse]]
LOCAL_VIEWER = Actor(user_id="local", name="this machine", roles=frozenset({"local"}))


@dataclass(frozen=True)
class Denied:
    """Why a request may not see the page: the status, a sentence, and where to sign in (if anywhere)."""

    status: int
    message: str
    sign_in: str | None = None


class Gate(Protocol):
    async def viewer(self, request: web.Request) -> Actor | Denied: ...

    def pages(self) -> Mapping[str, Page]:
        """The gate's own pages by path (of SIGN_IN_PATHS: sign-in, callback, sign-out), if it has any."""
        ...


class OpenLocal:
    """The console's embedded view: no sign-in, because it listens on 127.0.0.1 only."""

    async def viewer(self, request: web.Request) -> Actor | Denied:
        return LOCAL_VIEWER

    def pages(self) -> Mapping[str, Page]:
        return {}


class NotConfigured:
    """Sign-in is chosen but not set up: every page says what to set, and nothing is shown."""

    def __init__(self, problem: str) -> None:
        self.problem = problem

    async def viewer(self, request: web.Request) -> Actor | Denied:
        return Denied(503, self.problem)

    def pages(self) -> Mapping[str, Page]:
        return {}


def sign_in_link(request: web.Request) -> str:
    return "/auth/slack?next=" + quote(request.path_qs, safe="")


def safe_next(value: str | None) -> str:
    """Only a path of this site (``/runs/...``): never another host after signing in."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/runs"
    return value
