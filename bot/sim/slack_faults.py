"""Failure injection for the fake Slack Web API: the shapes a bad day has, queued per method.

429 with or without Retry-After, a 5xx with Slack's JSON, an HTML page or a JSON-labelled HTML page,
a reset connection, no answer at all (until the fake stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from dataclasses import dataclass

from aiohttp import web

ERROR_PAGE = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>"


@dataclass
class SlackFault:
    """The next ``remaining`` calls of a method fail this way."""

    remaining: int
    status: int
    retry_after: int | None = None
    kind: str = "status"  # "status" | "reset" | "hang"
    body: str | None = None  # None: Slack's own JSON error
    content_type: str = "application/json"


class FaultInjection:
    """Queues of faults per Web API method, and how a faulty answer is given (FakeSlackApi's half)."""

    _faults: dict[str, list[SlackFault]]
    _unhang: asyncio.Event | None
    hung: int

    # --- fault injection --------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int | None = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 ``ratelimited``, with Retry-After
        unless ``retry_after`` is None."""
        self._faults[method].append(SlackFault(times, 429, retry_after))

    def fail(
        self, method: str, times: int = 1, status: int = 503, *, body: str | None = None, content_type: str = ""
    ) -> None:
        """Answer the next ``times`` calls of ``method`` with a server error: Slack's JSON, or ``body``
        (say ERROR_PAGE) as ``content_type`` (text/html by default; application/json lies as proxies do)."""
        kind = content_type or ("text/html" if body is not None else "application/json")
        self._faults[method].append(SlackFault(times, status, body=body, content_type=kind))

    def reset(self, method: str, times: int = 1) -> None:
        """Reset the connection of the next ``times`` calls of ``method`` (TCP RST, no answer)."""
        self._faults[method].append(SlackFault(times, 0, kind="reset"))

    def hang(self, method: str, times: int = 1) -> None:
        """Never answer the next ``times`` calls of ``method`` (until ``stop``): the caller's timeout decides."""
        self._faults[method].append(SlackFault(times, 0, kind="hang"))

    def recover(self, method: str | None = None) -> None:
        """Forget the faults still queued for ``method`` (every method when None): Slack is back."""
        if method is None:
            self._faults.clear()
        else:
            self._faults.pop(method, None)

    def _take_fault(self, method: str) -> SlackFault | None:
        queue = self._faults.get(method)
        while queue:
            fault = queue[0]
            if fault.remaining > 0:
                fault.remaining -= 1
                return fault
            queue.pop(0)
        return None

    async def _faulty(self, request: web.Request, fault: SlackFault) -> web.Response:
        if fault.kind == "hang":
            self.hung += 1
            if self._unhang is None:
                self._unhang = asyncio.Event()
            await self._unhang.wait()
        if fault.kind in ("reset", "hang"):
            with contextlib.suppress(OSError, AttributeError):  # RST rather than a polite FIN
                sock = request.transport.get_extra_info("socket")  # type: ignore[union-attr]
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError  # aiohttp ends the handler quietly; nothing is written
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.body is not None:
            return web.Response(status=fault.status, text=fault.body, content_type=fault.content_type, headers=headers)
        error = "ratelimited" if fault.status == 429 else "internal_error"
        return web.json_response({"ok": False, "error": error}, status=fault.status, headers=headers)
