"""Putting the timeline on a server: on `ionbot serve`'s own port, or the console's open local one.

``mount`` adds the routes before the port is bound (they answer "starting" until the bot has
settled, a second after its first answers, and ``WebView.open_built`` hands them their use cases);
``serve_local`` is the console's
embedded view, bound to 127.0.0.1 only, where nobody but this machine can reach it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from aiohttp import web

from bot.web.mount import WebView, add_routes

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.web.routes import WebDeps

LOCAL_HOST = "127.0.0.1"


def mount(app: web.Application, settings: Settings) -> WebView | None:
    """The timeline's routes on ``app``, unless ION_WEB_AUTH=off; open them with ``view.open(deps)``."""
    if settings.web_auth == "off":
        return None
    return add_routes(app, WebView())


async def serve_local(deps: WebDeps, port: int) -> tuple[web.AppRunner, int]:
    """The timeline alone on 127.0.0.1 (``port`` 0 or busy: any free port); the runner and the port bound."""
    app = web.Application()
    add_routes(app, WebView(deps))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    for candidate in (port, 0) if port else (0,):
        with contextlib.suppress(OSError):
            site = web.TCPSite(runner, LOCAL_HOST, candidate)
            await site.start()
            return runner, int(runner.addresses[0][1])
    await runner.cleanup()
    raise OSError(f"no port on {LOCAL_HOST} could be bound for the timeline")
