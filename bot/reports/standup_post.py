"""Builds and posts a standup digest: scheduled (as of the day's one snapshot) or on demand (as of now).

A scheduled post rebuilt after its snapshot adds what changed on the day's steps since, so a later
zone's post is never stale; the snapshot time, attendees and slot order come from ``StandupDesk``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from bot.engine.records import Run
from bot.engine.report_data import ReportExtras, StandupDigest, standup_digest
from bot.reports.context import render_report
from bot.reports.gather import LaneMove
from bot.reports.publisher import ReportPublisher
from bot.reports.standups import StandupDesk
from bot.runbook.models import Runbook


class StandupPoster:
    """One per process, posting through the report publisher (its gatherers, renderer and poster)."""

    def __init__(self, publisher: ReportPublisher, desk: StandupDesk) -> None:
        self.publisher = publisher
        self.desk = desk
        self.times = publisher.times
        self.gather = publisher.gather
        self.extras = publisher.extras

    @property
    def runbook(self) -> Runbook:
        return self.publisher.runbook

    async def post(
        self, run: Run, day: int, name: str, channel: str, late: bool, due: datetime | None, stamp: str = ""
    ) -> None:
        """A scheduled post (no ``stamp``) is built as of the day's one snapshot; on demand, as of now."""
        now = self.times.clock.now()
        at = now if stamp else await self.desk.snapshot_at(run.id, day, now)
        moves = await self.gather.lane_moves(run)
        single = self.runbook.schedule.standup_posts == "single" and not stamp
        replay = at < now
        report = await self._digest(run, day, "all zones" if single else name, moves, at, replay, late)
        report = replace(
            report,
            snapshot_at=None if stamp else at.astimezone(self.times.zone),
            attendees="" if stamp else self.desk.attendees(),
            local_times=self.desk.local_times() if single else (),
        )
        key = f"standup:{name}:{run.id}:{day}" + (f":{stamp}" if stamp else "")
        text = self.times.late_note(late, due) + render_report(self.publisher.renderer, report)
        if replay:
            text += self._since(day, moves, at, now)
        if day > 1 and not stamp:  # the scheduled morning post starts with what happened overnight
            night = self.publisher.night
            text = await night.overnight(run, at, night.since_last_evening(run, day)) + "\n\n" + text
        await self.publisher.post(channel, text, key)

    async def _digest(
        self, run: Run, day: int, name: str, moves: Sequence[LaneMove], at: datetime, replay: bool, late: bool
    ) -> StandupDigest:
        """Yesterday's outcomes, today's plan and where each of its steps stands, as of ``at``."""
        inputs = await self.gather.inputs(run, max(1, day - 1), max(1, day - 1), at, replay=replay)
        yesterday = inputs.outcomes if day > 1 else ()
        unticked = await self.gather.unticked(run, [day], inputs.history)
        states = self.extras.plan_states(day, moves, at) + await self.extras.gate_states(run, day, at)
        reasons = await self.extras.reasons(run, moves, at)
        dry_run = self.publisher.dry(run)
        extras = ReportExtras(dry_run=dry_run, window=self.times.window(at), plan_states=states, reasons=reasons)
        return standup_digest(
            self.runbook,
            day,
            name,
            yesterday,
            inputs.metrics,
            inputs.alerts,
            inputs.pending,
            unticked,
            inputs.ledger,
            late=late,
            extras=extras,
        )

    def _since(self, day: int, moves: Sequence[LaneMove], at: datetime, now: datetime) -> str:
        """What changed on the day's steps after the snapshot: a later post is never stale."""
        before = {step_id: text for step_id, text, _ in self.extras.plan_states(day, moves, at)}
        after = self.extras.plan_states(day, moves, now)
        lines = [f"- {step_id}: {text}" for step_id, text, _ in after if text and before.get(step_id) != text]
        if not lines:
            return ""
        local = now.astimezone(self.times.zone)
        return f"\n*Since the snapshot (to {local:%H:%M}):*\n" + "\n".join(lines) + "\n"
