"""The timeline's URL table, light enough for `ionbot serve` to mount before its port is bound.

Handlers import the pages (Jinja2, the engine's read models) on their first request, so the
probes answer as soon as the process starts; the deps arrive later through ``WebView.open``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from bot.heap import import_all

if TYPE_CHECKING:
    from bot.web.routes import WebDeps

STATIC = Path(__file__).parent / "static"
RUN = r"{run_id:[A-Za-z0-9_.:-]{1,80}}"
# What the pages' use cases are built from (the engine's timeline read models, the routes, the
# gate): imported by ``WebView.open_built`` in a worker thread, so building them never stalls the loop.
PAGE_MODULES = ("bot.engine.timeline", "bot.engine.timeline_pages", "bot.web.routes", "bot.web.setup")
SIGN_IN_PATHS = ("/auth/slack", "/auth/slack/callback", "/auth/signout")
# path, page name (bot/web/routes.py PAGES), and whether a person reads it (HTML: sign-in redirect)
ROUTES: tuple[tuple[str, str, bool], ...] = (
    ("/runs", "runs_page", True),
    (f"/runs/{RUN}", "timeline_page", True),
    (f"/runs/{RUN}/steps/{{step_id:day\\d+\\.\\d+}}", "step_page", True),
    (f"/runs/{RUN}/audit", "audit_page", True),
    (f"/runs/{RUN}/audit.csv", "audit_download", False),
    (f"/runs/{RUN}/audit.jsonl", "audit_download", False),
    (f"/runs/{RUN}/metrics/{{trigger_id:[a-z][a-z0-9_]*}}.json", "metric_json", False),
)


class WebView:
    """Holds the deps; the pages say "starting" until ``open`` hands them over (and again after ``open(None)``)."""

    def __init__(self, deps: WebDeps | None = None) -> None:
        self.deps = deps

    def open(self, deps: WebDeps | None) -> None:
        self.deps = deps

    async def open_built(self, build: Callable[[], WebDeps]) -> None:
        """Open with ``build()``, its modules imported first in a worker thread (the loop answers meanwhile)."""
        await asyncio.to_thread(import_all, PAGE_MODULES)
        self.open(build())


def add_routes(app: web.Application, view: WebView) -> WebView:
    """Every page, the static assets, and the sign-in pages (whichever the gate, known once open, has)."""
    for path, name, html in ROUTES:
        app.router.add_get(path, _page(view, name, html))
    for path in SIGN_IN_PATHS:
        app.router.add_get(path, _page(view, "sign_in_page", True))
    app.router.add_static("/static/web/", STATIC, append_version=False)
    return view


def _page(view: WebView, name: str, html: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        from bot.web.routes import serve

        return await serve(view, request, name, html)

    return handle
