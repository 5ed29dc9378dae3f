"""serve's crash-recovery loop: a pass every lease on the bot's clock, outliving a pass that fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.engine.clock import VirtualClock
from bot.engine.recovery import RecoveryPass
from bot.slack.server import recover_forever

LEASE = timedelta(minutes=2)


@dataclass
class CountingRollout:
    """Stands in for Rollout: counts recovery passes; the first one fails like a lost database."""

    lease: timedelta = LEASE
    passes: int = 0
    failures: list[str] = field(default_factory=list)

    async def recovery_pass(self) -> RecoveryPass:
        self.passes += 1
        if self.passes == 1:
            self.failures.append("database unreachable")
            raise ConnectionError("database unreachable")
        return RecoveryPass([], [])


@dataclass
class BotWithRecovery:
    rollout: CountingRollout
    clock: VirtualClock


async def test_the_loop_runs_a_pass_every_lease_and_survives_a_failing_one() -> None:
    bot = BotWithRecovery(CountingRollout(), VirtualClock(datetime(2026, 4, 20, 14, tzinfo=UTC)))
    loop = asyncio.create_task(recover_forever(bot))
    try:
        await bot.clock.advance(LEASE * 3)
        assert bot.rollout.passes == 3
        assert bot.rollout.failures == ["database unreachable"]
        assert not loop.done()
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
