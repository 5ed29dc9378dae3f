"""A stand-in for ion-mentoring-api on 127.0.0.1, so smoke and load tests hit a real HTTP server.

Latency follows the sim's current P95 (a hook the metrics side sets) and errors can be injected,
so a probe sees the same world the synthetic metrics describe.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter
from collections.abc import Callable

from aiohttp import web
from aiohttp.typedefs import Handler

DEFAULT_P95_MS = 36.4  # the seed's production baseline


class SimHttpApp:
    """ion-mentoring-api's public surface: health, readiness, persona lookup, mentoring.

    ``p95_ms`` is a callable read on every request; ``error_rate_pct`` may be changed at any time.
    ``time_scale`` multiplies the simulated latency (0 answers at once, for tests). Every answer
    carries its simulated latency as ``Server-Timing: app;dur=MS``, for probes that trust it.
    """

    def __init__(
        self,
        *,
        p95_ms: Callable[[], float] | None = None,
        error_rate_pct: float = 0.0,
        time_scale: float = 1.0,
        seed: int = 17,
    ) -> None:
        self.p95_ms: Callable[[], float] = p95_ms or (lambda: DEFAULT_P95_MS)
        self.error_rate_pct = error_rate_pct
        self.time_scale = time_scale
        self.served: Counter[str] = Counter()
        self.hosts_seen: Counter[str] = Counter()
        self._random = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    def latency_ms(self) -> float:
        """A latency whose 95th percentile is the current P95: normal with mean 0.6*P95."""
        p95 = max(0.0, self.p95_ms())
        mean = 0.6 * p95
        sigma = 0.4 * p95 / 1.645
        return max(0.0, self._random.gauss(mean, sigma))

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._simulate])
        app.router.add_get("/api/v2/health", self._health)
        app.router.add_get("/api/v2/ready", self._health)
        app.router.add_get("/api/v2/personas/{tone}/{pace}/{intent}", self._persona)
        app.router.add_post("/api/v2/mentor", self._mentor)
        return app

    async def start(self, *, own_thread: bool = False) -> tuple[str, int]:
        """Serve on an ephemeral loopback port; returns (host, port).

        ``own_thread`` serves from a loop of its own, as a real service would: latencies a probe
        measures then never include time the caller's loop spent on its own work.
        """
        if not own_thread:
            return await self._serve()
        ready: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()
        caller = asyncio.get_running_loop()

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._thread_loop = loop
            try:
                address = loop.run_until_complete(self._serve())
                caller.call_soon_threadsafe(ready.set_result, address)
                loop.run_forever()
                loop.run_until_complete(self._cleanup())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="sim-http-app", daemon=True)
        self._thread.start()
        return await ready

    async def _serve(self) -> tuple[str, int]:
        self._runner = web.AppRunner(self.build(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return str(host), int(port)

    async def _cleanup(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def stop(self) -> None:
        if self._thread is not None and self._thread_loop is not None:
            self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
            self._thread_loop = None
            return
        await self._cleanup()

    @web.middleware
    async def _simulate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.served[request.path] += 1
        self.hosts_seen[request.host] += 1
        latency_ms = self.latency_ms()
        delay = latency_ms * self.time_scale / 1000.0
        failing = self._random.random() * 100.0 < self.error_rate_pct
        if delay > 0:
            await asyncio.sleep(delay)
        if failing:
            response: web.StreamResponse = web.json_response({"error": "injected failure"}, status=503)
        else:
            response = await handler(request)
        response.headers["Server-Timing"] = f"app;dur={latency_ms:.1f}"
        return response

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": "ion-mentoring-api"})

    async def _persona(self, request: web.Request) -> web.Response:
        info = request.match_info
        return web.json_response({"tone": info["tone"], "pace": info["pace"], "intent": info["intent"]})

    async def _mentor(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        question = str(body.get("question", "")) if isinstance(body, dict) else ""
        return web.json_response({"answer": f"Let's think about {question or 'that'} together."})
