"""Slack requests that arrive while the bot is still being built: held, never refused.

Cloud Run (and any load balancer) may send a request as soon as the port is bound, and Slack
does not retry slash commands or clicks: a 503 there is an answer lost. A request whose
signature is good waits up to ``hold_for`` seconds for the bot; if it is ready by then the
request is dispatched as usual, otherwise it is acked at once (Slack's 3 s) and dispatched,
in arrival order, the moment the bot opens. Its answer then comes through the Web API, as
every answer after an ack does. A request that is not signed by Slack is refused at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

if TYPE_CHECKING:
    from bot.slack.transport.edge import EdgeApp, Held

log = structlog.get_logger(__name__)

HOLD_SECONDS = 2.0  # Slack waits 3 s for the ack; keep a margin for the network


class StartupGate:
    """Holds signed requests until ``open`` and replays them into the app, in arrival order."""

    def __init__(self, signing_secret: str | None, *, hold_for: float | None = None) -> None:
        self._signing_secret = signing_secret
        self.hold_for = HOLD_SECONDS if hold_for is None else hold_for
        self._opened = asyncio.Event()
        self._held: list[Held] = []
        self._replays: set[asyncio.Task[None]] = set()
        self.app: EdgeApp | None = None
        self._early = 0  # requests that came before the bot opened, not yet answered over HTTP
        self._no_early = asyncio.Event()
        self._no_early.set()

    def signature_problem(self, raw: bytes, headers: Mapping[str, str]) -> str | None:
        """Why this is not provably Slack's request (the edge's own check), or None."""
        from bot.slack.transport.edge import signature_problem

        return signature_problem(raw, headers, self._signing_secret, time.time())

    async def wait_open(self) -> bool:
        """True when the bot opened within ``hold_for`` seconds."""
        if self._opened.is_set():
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self._opened.wait()), self.hold_for)
        except TimeoutError:
            return False
        return True

    def hold(self, request: Held) -> None:
        """Keep ``request`` for the bot; it is dispatched as soon as the bot opens."""
        self._held.append(request)
        log.info("a Slack request arrived while the bot was starting; acked, answered once ready")

    def open(self, app: EdgeApp) -> None:
        self.app = app
        self._opened.set()
        held, self._held = self._held, []
        if held:
            task = asyncio.get_running_loop().create_task(self._replay(app, held))
            self._replays.add(task)
            task.add_done_callback(self._replays.discard)

    @property
    def held(self) -> int:
        return len(self._held)

    async def _replay(self, app: EdgeApp, held: list[Held]) -> None:
        from bot.slack.transport.edge import SlackEdge

        edge = SlackEdge(app)
        for request in held:
            try:
                response = await edge.handle_bytes(request)
            except Exception as error:  # one bad request must not drop the ones after it
                log.warning("a request held during start-up failed", error=str(error))
                continue
            if response.status >= 400:
                log.warning("a request held during start-up was refused", status=response.status)

    @contextmanager
    def early(self) -> Iterator[None]:
        """Around a request that came before the bot opened, until its HTTP answer (see ``answered``)."""
        self._early += 1
        self._no_early.clear()
        try:
            yield
        finally:
            self._early -= 1
            if not self._early:
                self._no_early.set()

    async def answered(self, work: Callable[[], Iterable[asyncio.Task[Any]]], *, within: float) -> None:
        """Wait, ``within`` seconds at most, until the requests that came before the bot opened are
        answered: their HTTP answers, the replays of those held past Slack's 3 s, then the work
        queued after their acks (``work()``, read then). Only the waiting is ever cancelled here."""

        async def all_answered() -> None:
            await self._no_early.wait()
            if self._replays:
                await asyncio.wait(set(self._replays))
            tasks = set(work())
            if tasks:
                await asyncio.wait(tasks)

        waiting = asyncio.ensure_future(all_answered())
        try:
            await asyncio.wait({waiting}, timeout=within)
        finally:
            waiting.cancel()

    async def close(self) -> None:
        """Wait for the replays still running (a clean shutdown loses none)."""
        if self._replays:
            await asyncio.gather(*self._replays, return_exceptions=True)
