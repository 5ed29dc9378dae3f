"""Exponential back-off for transient cloud errors (429, 503) and patient polling of operations.

Sleep and time come from a Clock so tests move a virtual clock instead of waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from bot.engine.ports import Clock

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


class CloudCallError(Exception):
    """A cloud refusal in the bot's terms.

    ``kind`` is one of: transient (429/503, try again), conflict (etag mismatch), denied,
    not_found, precondition (refused in the resource's current state; may be tried again), invalid.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Backoff:
    """Delays initial, initial*factor, ... capped at maximum, for ``attempts`` tries in all."""

    attempts: int = 6
    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 20.0

    def delays(self) -> list[float]:
        return [min(self.initial * self.factor**i, self.maximum) for i in range(max(self.attempts, 1) - 1)]


async def retry_transient(call: Callable[[], Awaitable[T]], *, sleep: Sleep, backoff: Backoff = Backoff()) -> T:
    """Run ``call``; on a transient CloudCallError wait and try again, up to ``backoff.attempts`` times."""
    delays = backoff.delays()
    attempt = 0
    while True:
        try:
            return await call()
        except CloudCallError as error:
            if error.kind != "transient":
                raise
            if attempt == len(delays):
                raise CloudCallError(
                    "transient", f"still unavailable after {attempt + 1} attempts ({error.detail})"
                ) from error
            await sleep(delays[attempt])
            attempt += 1


async def await_done(
    done: Callable[[], Awaitable[bool]],
    *,
    clock: Clock,
    within: timedelta,
    backoff: Backoff = Backoff(),
    poll_initial: float = 1.0,
    poll_maximum: float = 10.0,
) -> bool:
    """Poll ``done`` until it says True (-> True) or ``within`` passes on the clock (-> False)."""
    deadline = clock.now() + within
    interval = poll_initial
    while True:
        if await retry_transient(done, sleep=clock.sleep, backoff=backoff):
            return True
        remaining = (deadline - clock.now()).total_seconds()
        if remaining <= 0:
            return False
        await clock.sleep(min(interval, remaining))
        interval = min(interval * 1.5, poll_maximum)
