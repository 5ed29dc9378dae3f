"""The console's embedded web timeline: the same pages as `ionbot serve`, on 127.0.0.1 without sign-in.

Only this machine can reach 127.0.0.1, which is why no sign-in is asked; the console says so
when it starts, and cards and reports link to it (ION_TIMELINE_URL is set to its address).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.console.session import Session
from bot.console.words import Note
from bot.web.serving import LOCAL_HOST, serve_local


@asynccontextmanager
async def local_timeline(session: Session, port: int) -> AsyncIterator[Note]:
    """Serve the session's timeline while the console runs; yields the line that says where and how."""
    runner, bound = await serve_local(session.world.local_timeline(), port)
    url = f"http://{LOCAL_HOST}:{bound}"
    session.world.timeline_served_at(url)
    try:
        yield Note(f"Timeline (read-only, no sign-in: only this machine can open it): {url}/runs", "dim")
    finally:
        await runner.cleanup()
