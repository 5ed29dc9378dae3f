"""The watch's duties over a run (deadline notices, the overnight handover), caught up after a restart.

Every watch pass marks the run as seen. A pass that finds the last mark older than ``DOWN_AFTER``
knows the bot was down in between (every replica was), and hands that ``Downtime`` to each duty, so
whatever fell due meanwhile is done now and said honestly: "late: the bot was down from 18:50 to
01:12". Each duty claims what it does (``claim_post``), so a catch-up is said once across replicas.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from bot.engine.ports import JSON, Clock
from bot.engine.records import Run

DOWN_AFTER = timedelta(minutes=5)  # a gap between two watch passes this long means nobody was running


def seen_key(run_id: str) -> str:
    return f"duties:seen:{run_id}"


@dataclass(frozen=True)
class Downtime:
    """The bot ran no watch pass over a run from ``since`` (its last one) to ``back`` (this one)."""

    since: datetime
    back: datetime

    def covers(self, due: datetime) -> bool:
        """True when ``due`` fell while the bot was down, so what it owed then is said late now."""
        return self.since < due <= self.back

    def late_note(self, show: Callable[[datetime], str], done: str = "Done") -> str:
        """The sentence a late duty ends with, in the team's times ("Applied late at 01:12: ...")."""
        return f"{done} late at {show(self.back)}: the bot was down from {show(self.since)} to {show(self.back)}."


class DutyStore(Protocol):
    async def get_value(self, key: str) -> JSON | None: ...

    async def put_value(self, key: str, value: JSON) -> None: ...


class Duty(Protocol):
    """One duty of the watch pass: does what is owed over ``run`` now, late when ``down`` says so."""

    async def pass_once(self, run: Run, down: Downtime | None = None) -> Sequence[object]: ...


class Duties:
    """The duties every watch pass runs over every open run (bot/bootstrap_oncall.py serves them)."""

    def __init__(self, store: DutyStore, clock: Clock, down_after: timedelta = DOWN_AFTER) -> None:
        self._store = store
        self._clock = clock
        self._down_after = down_after
        self._duties: tuple[Duty, ...] = ()

    def serve(self, *duties: Duty) -> None:
        """The duties of the bot's Slack app (its outbox says them); a later app's replace an earlier's."""
        self._duties = duties

    async def downtime(self, run: Run, now: datetime) -> Downtime | None:
        """The gap since the last pass over ``run``, when it is long enough to mean the bot was down."""
        raw = await self._store.get_value(seen_key(run.id))
        try:
            since = datetime.fromisoformat(str(raw)) if isinstance(raw, str) else None
        except ValueError:
            since = None
        return Downtime(since, now) if since is not None and now - since >= self._down_after else None

    async def pass_once(self, run: Run) -> None:
        """Every duty over ``run``, then the mark that it was seen now (only after the duties ran, so a
        pass that failed half-way is caught up by the next one)."""
        if not self._duties:
            return
        now = self._clock.now()
        down = await self.downtime(run, now)
        for duty in self._duties:
            await duty.pass_once(run, down)
        await self._store.put_value(seen_key(run.id), now.isoformat())
