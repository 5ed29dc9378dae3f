"""The time-of-day scaling changes, kept for the daily report instead of a post every hour.

The hourly scaling job appends each change to a per-date list in the key-value store (weekend
nights too); the daily report sums up the changes since the previous run day's report.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.engine.ports import JSON

if TYPE_CHECKING:
    from bot.bootstrap import Bot


def scaling_log_key(run_id: str, on: date) -> str:
    """Where the scaling changes of a (team-local) date are kept for the daily report."""
    return f"scaling:log:{run_id}:{on.isoformat()}"


class ScalingLog:
    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    async def record(self, run_id: str, at: datetime, changes: list[str]) -> None:
        local = at.astimezone(self.zone)
        for line in changes:
            entry: dict[str, JSON] = {"at": at.astimezone(UTC).isoformat(), "line": f"{local:%a %H:%M}: {line}"}
            await self.bot.store.append_value(scaling_log_key(run_id, local.date()), entry)

    async def since(self, run_id: str, since: datetime | None, first: date, at: datetime) -> tuple[str, ...]:
        """The changes after ``since`` (the previous report; None: from ``first``) up to ``at``."""
        lines: list[str] = []
        for n in range((at.astimezone(self.zone).date() - first).days + 1):
            stored = await self.bot.store.get_value(scaling_log_key(run_id, first + timedelta(days=n)))
            for entry in stored if isinstance(stored, list) else []:
                if not isinstance(entry, dict):
                    continue
                when = datetime.fromisoformat(str(entry.get("at")))
                if when <= at and (since is None or when > since):
                    lines.append(str(entry.get("line")))
        return tuple(lines)
