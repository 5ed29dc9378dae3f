"""What makes the standup posts of one day agree: one snapshot time, the attendees, the zones.

The first standup post of a day fixes the day's snapshot time in the store; every later post of
that day (another zone, another replica) rebuilds the digest as of that same time, so the three
posts show the same figures. What finished after the snapshot is added below it, so a post is
never stale. ``standup_posts: single`` posts once, at the day's first slot, with every local time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.runbook.models import Standup

if TYPE_CHECKING:
    from bot.bootstrap import Bot


def snapshot_key(run_id: str, day: int) -> str:
    return f"standup:snapshot:{run_id}:{day}"


class StandupDesk:
    """Snapshot times, attendee mentions and slot order for one bot's standups."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def snapshot_at(self, run_id: str, day: int, now: datetime) -> datetime:
        """The day's snapshot time: the stored one, or ``now`` stored as it (the first post of the day)."""
        key = snapshot_key(run_id, day)
        stored = await self.bot.store.get_value(key)
        if isinstance(stored, str):
            try:
                return datetime.fromisoformat(stored)
            except ValueError:
                pass
        await self.bot.store.put_value(key, now.astimezone(UTC).isoformat())
        return now

    def attendees(self) -> str:
        """Mentions of the people expected (the runbook's ``standup_attendees`` roles, else every role),
        from ION_ROLES: ``<@U…>`` for people, ``<!subteam^S…>`` for user groups."""
        runbook = self.bot.runbook
        roles = runbook.schedule.standup_attendees or [r.id for r in runbook.roles]
        members = self.bot.rollout.policy.members
        seen: list[str] = []
        for role in roles:
            for member in sorted(members.get(role, frozenset())):
                if member not in seen:
                    seen.append(member)
        return " ".join(f"<!subteam^{m}>" if m.startswith("S") else f"<@{m}>" for m in seen)

    def first_slot(self, on: date) -> Standup | None:
        """The standup that comes first on ``on`` (by its UTC instant)."""
        standups = self.bot.runbook.schedule.standups
        if not standups:
            return None
        return min(standups, key=lambda s: datetime.combine(on, s.at, ZoneInfo(s.timezone)).astimezone(UTC))

    def local_times(self) -> tuple[str, ...]:
        return tuple(f"{s.name} {s.at:%H:%M} {s.timezone}" for s in self.bot.runbook.schedule.standups)
