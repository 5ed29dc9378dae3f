"""`ionbot serve` runs on uvloop where it is installed (issue 14: a fifth less CPU per answer), and
on asyncio's own loop where it is not (Windows, where uvloop does not install)."""

from __future__ import annotations

import asyncio
import sys

import pytest
import uvloop

from bot.serve_cli import event_loop_factory


def test_serve_runs_on_uvloop_where_it_is_installed() -> None:
    factory = event_loop_factory()
    assert factory is not None
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(asyncio.sleep(0, result="ran")) == "ran"
    finally:
        loop.close()


def test_without_uvloop_serve_runs_on_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert event_loop_factory() is None
