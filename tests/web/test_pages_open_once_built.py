"""Issue 14: serve opens the timeline's pages a second after its first answers (bot/heap.py), with
their modules imported in a worker thread, so neither stands between a spawn and its first answer."""

from __future__ import annotations

import sys
from typing import cast

from bot.web.mount import PAGE_MODULES, WebView
from bot.web.routes import WebDeps


async def test_the_pages_open_with_what_was_built_once_their_modules_are_imported() -> None:
    view = WebView()
    deps = cast(WebDeps, object())

    await view.open_built(lambda: deps)

    assert view.deps is deps
    assert all(name in sys.modules for name in PAGE_MODULES)
