"""HTTP probes (smoke tests and bounded load tests) over aiohttp.

The runbook keeps its real URLs; in the sim and the tests a ``host_map`` resolves those hosts to a
local server and ``loopback_only`` makes sure nothing ever leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from bot.cloud.probe_report import (
    LoadLimits,
    LoadPlan,
    ProbeRefused,
    ProbeReport,
    Recorder,
    percentile,
    server_timing_ms,
)
from bot.engine.clock import SystemClock
from bot.engine.ports import Clock

Timer = Callable[[], float]

__all__ = [
    "HostMapResolver",
    "HttpProber",
    "LoadLimits",
    "LoadPlan",
    "ProbeRefused",
    "ProbeReport",
    "TokenBucket",
    "percentile",
    "server_timing_ms",
]


class HostMapResolver(AbstractResolver):
    """Resolves mapped hosts to local addresses; with ``loopback_only`` refuses everything else.

    Refusing before any DNS lookup keeps the sim and the tests from touching the network at all.
    """

    def __init__(self, host_map: Mapping[str, tuple[str, int]], loopback_only: bool) -> None:
        self._host_map = {host.lower(): addr for host, addr in host_map.items()}
        self._loopback_only = loopback_only
        self._fallback: AbstractResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        mapped = self._host_map.get(host.lower().rstrip("."))
        if mapped is not None:
            address, mapped_port = mapped
            return [_result(host, address, mapped_port)]
        if self._loopback_only:
            if host.lower() == "localhost":
                return [_result(host, "127.0.0.1", port)]
            raise OSError(f"{host} is not mapped to a local address and this prober is loopback-only")
        if self._fallback is None:
            self._fallback = aiohttp.ThreadedResolver()
        return await self._fallback.resolve(host, port, family)

    async def close(self) -> None:
        if self._fallback is not None:
            await self._fallback.close()


def _result(hostname: str, address: str, port: int) -> ResolveResult:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return ResolveResult(hostname=hostname, host=address, port=port, family=family, proto=0, flags=0)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class HttpProber:
    """Sends probe traffic and measures it; one aiohttp session, opened on first use.

    ``host_map`` maps a runbook host to a local (address, port) and turns https into http for it;
    ``loopback_only`` refuses any destination that is not 127.0.0.1/::1 (the sim sets it).
    ``limits`` scales load tests down (the action reports when they did). ``timer`` measures latency.
    ``trust_server_timing`` takes a response's ``Server-Timing`` duration as its latency when it
    has one: the sim's service reports the latency of the world it simulates that way, since the
    wall time of a loopback request measures this machine's load, not that world.
    """

    def __init__(
        self,
        *,
        host_map: Mapping[str, tuple[str, int]] | None = None,
        loopback_only: bool = False,
        limits: LoadLimits | None = None,
        timer: Timer = time.perf_counter,
        trust_server_timing: bool = False,
        user_agent: str = "ionbot-probe/1",
    ) -> None:
        self.host_map = {host.lower(): addr for host, addr in (host_map or {}).items()}
        self.loopback_only = loopback_only
        self.limits = limits or LoadLimits()
        self._timer = timer
        self.trust_server_timing = trust_server_timing
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        if loopback_only:
            for host, (address, _port) in self.host_map.items():
                if not _is_loopback(address):
                    raise ProbeRefused(
                        f"host_map sends {host} to {address}, which is not a loopback address, "
                        "and this prober is loopback-only; map it to 127.0.0.1"
                    )

    def route(self, url: str) -> URL:
        """The URL actually requested: https becomes http for mapped hosts; refusals raise ProbeRefused."""
        parsed = URL(url)
        host = (parsed.host or "").lower()
        if parsed.scheme not in ("http", "https") or not host:
            raise ProbeRefused(f"{url} is not an http(s) URL with a host")
        if host in self.host_map:
            return parsed.with_scheme("http") if parsed.scheme == "https" else parsed
        if self.loopback_only and not (_is_loopback(host) or host == "localhost"):
            raise ProbeRefused(
                f"refusing to send traffic to {host}: this prober is loopback-only and {host} is not in its host_map"
            )
        return parsed

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = self._new_session()
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        resolver = HostMapResolver(self.host_map, self.loopback_only)
        connector = aiohttp.TCPConnector(resolver=resolver, limit=0, use_dns_cache=False)
        return aiohttp.ClientSession(connector=connector, headers={"User-Agent": self._user_agent})

    async def smoke(
        self,
        url: str,
        requests: int,
        concurrency: int,
        timeout: timedelta,
    ) -> ProbeReport:
        """``requests`` GETs, at most ``concurrency`` at a time, each within ``timeout``.

        Measured on a loop and connection pool of their own, in a worker thread: the bot's own
        work (Slack, the store) on its loop must not show up as the service's latency.
        """
        target = self.route(url)
        return await self._on_own_loop(
            lambda session: self._smoke_with(session, url, target, requests, concurrency, timeout)
        )

    async def _on_own_loop(self, work: Callable[[aiohttp.ClientSession], Awaitable[ProbeReport]]) -> ProbeReport:
        """``work`` on a fresh event loop and connection pool in a worker thread, off the bot's loop."""

        async def run() -> ProbeReport:
            session = self._new_session()
            try:
                return await work(session)
            finally:
                await session.close()

        return await asyncio.to_thread(asyncio.run, run())

    async def _smoke_with(
        self,
        session: aiohttp.ClientSession,
        url: str,
        target: URL,
        requests: int,
        concurrency: int,
        timeout: timedelta,
    ) -> ProbeReport:
        recorder = Recorder(url)
        gate = asyncio.Semaphore(max(1, concurrency))
        client_timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        # Open the connections first, untimed: a smoke test measures the service's answers,
        # not our own TCP and TLS handshakes (which would otherwise be the whole P95).
        warm_up = Recorder(url)
        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(concurrency, requests))):
                group.create_task(self._request(target, client_timeout, warm_up, session))
        started = self._timer()

        async def one() -> None:
            async with gate:
                await self._request(target, client_timeout, recorder, session)

        async with asyncio.TaskGroup() as group:
            for _ in range(requests):
                group.create_task(one())
        return recorder.report(self._timer() - started, stopped_by="requests")

    async def load(
        self,
        url: str,
        rate_rps: float,
        concurrency: int,
        duration: timedelta,
        max_requests: int,
        clock: Clock,
        timeout: timedelta = timedelta(seconds=10),
    ) -> ProbeReport:
        """Paced GETs until the first of ``duration`` (on ``clock``) or ``max_requests``.

        A token bucket paces the starts at ``rate_rps``; a semaphore bounds requests in flight.
        On real time (a SystemClock) it runs on a loop and connection pool of its own in a worker
        thread, like ``smoke``: an hour at 5,000 rps must not share the loop that acks Slack.
        Cancelled (a lease lost, a rollback), it stops starting requests at once. A virtual clock
        keeps it on the caller's loop, where that clock's sleeps live.
        """
        target = self.route(url)
        if not isinstance(clock, SystemClock):
            return await self._load(url, target, rate_rps, concurrency, duration, max_requests, clock, timeout)
        stop = threading.Event()
        try:
            return await self._on_own_loop(
                lambda session: self._load(
                    url, target, rate_rps, concurrency, duration, max_requests, clock, timeout, session, stop
                )
            )
        except asyncio.CancelledError:
            stop.set()  # the thread cannot be cancelled; it sees this before its next request
            raise

    async def _load(
        self,
        url: str,
        target: URL,
        rate_rps: float,
        concurrency: int,
        duration: timedelta,
        max_requests: int,
        clock: Clock,
        timeout: timedelta,
        session: aiohttp.ClientSession | None = None,
        stop: threading.Event | None = None,
    ) -> ProbeReport:
        recorder = Recorder(url)
        gate = asyncio.Semaphore(max(1, concurrency))
        client_timeout = aiohttp.ClientTimeout(total=timeout.total_seconds())
        start = clock.now()
        bucket = TokenBucket(rate_rps, clock)
        limit = duration.total_seconds()
        sent = 0
        stopped_by = "max_requests"

        async def one() -> None:
            try:
                await self._request(target, client_timeout, recorder, session)
            finally:
                gate.release()

        async with asyncio.TaskGroup() as group:
            while sent < max_requests:
                if (clock.now() - start).total_seconds() >= limit:
                    stopped_by = "duration"
                    break
                await bucket.take()
                if (clock.now() - start).total_seconds() >= limit:
                    stopped_by = "duration"
                    break
                await gate.acquire()
                if stop is not None and stop.is_set():
                    gate.release()
                    stopped_by = "cancelled"
                    break
                group.create_task(one())
                sent += 1
        elapsed = (clock.now() - start).total_seconds()
        return recorder.report(elapsed, stopped_by=stopped_by)

    async def _request(
        self,
        url: URL,
        limit: aiohttp.ClientTimeout,
        recorder: Recorder,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        started = self._timer()
        try:
            client = session or self._client()
            async with client.get(url, timeout=limit, allow_redirects=False) as response:
                await response.read()
                status = response.status
                reported = server_timing_ms(response.headers.get("Server-Timing", ""))
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            recorder.failed(exc)
            return
        elapsed_ms = (self._timer() - started) * 1000.0
        recorder.answered(status, reported if self.trust_server_timing and reported is not None else elapsed_ms)


class TokenBucket:
    """Hands out one token per request at ``rate`` per second on ``clock``; holds at most one spare.

    A burst of one keeps starts evenly spaced, which is what "N requests per second" means to ab.
    """

    def __init__(self, rate: float, clock: Clock, burst: float = 1.0) -> None:
        self._rate = rate
        self._clock = clock
        self._burst = burst
        self._tokens = burst
        self._stamp = clock.now()

    def _refill(self) -> None:
        now = self._clock.now()
        self._tokens = min(self._burst, self._tokens + (now - self._stamp).total_seconds() * self._rate)
        self._stamp = now

    async def take(self) -> None:
        self._refill()
        while self._tokens < 1.0:
            await self._clock.sleep((1.0 - self._tokens) / self._rate)
            self._refill()
        self._tokens -= 1.0
