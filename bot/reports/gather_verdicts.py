"""The report's verdicts: the Go/No-Go gates' decisions and the quality targets, now or as they
stood at a past report time (gate decisions then come from the audit log, see ``History``)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.engine.records import Run
from bot.engine.report_model import GateDecision, QualityReading
from bot.reports.facts import FactBook, slug
from bot.reports.gather_metrics import production_environment
from bot.reports.history import History
from bot.runbook.models import Runbook

if TYPE_CHECKING:
    from bot.bootstrap import Bot


class VerdictsGatherer:
    """Reads one run's gate records, quality checks and recorded facts."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook

    async def decisions(self, run_id: str, history: History | None = None) -> list[GateDecision]:
        """The gates' decisions now, or as they stood at ``history.at`` (a NO reopened since still counts)."""
        found: list[GateDecision] = []
        for gate in self.runbook.gates:
            record = await self.bot.store.get_gate(run_id, gate.id)
            if history is not None:
                entry, recorded = history.decision(gate.id)
                if entry is not None:
                    found.append(GateDecision(gate.id, entry.after, entry.actor_name, entry.at))
                    continue
                if recorded or record is None or record.decided_at is None or record.decided_at > history.at:
                    continue  # undecided then; a record without audited decisions is trusted by its time
            if record is not None:
                who = record.decided_by_name or record.decided_by
                overridden = tuple(
                    f"{h.label}: overridden by {h.override_by}: {h.override_reason}"
                    for h in record.health
                    if h.override_reason
                )
                found.append(GateDecision(gate.id, record.decision, who, record.decided_at, overridden))
        return found

    async def quality(self, run: Run, now: datetime, history: History | None = None) -> list[QualityReading]:
        """Targets with a condition are checked from metrics; manual ones count only when a gate item says so.

        With ``history`` (a past ``now``) an incidents check that open incidents resolved since would
        miss is reported as unknown, saying why, rather than as met.
        """
        environment = production_environment(self.runbook)
        resolved_since = await self._incidents_resolved_since(run.id, now) if history is not None else 0
        readings: list[QualityReading] = []
        for target in self.runbook.targets.quality:
            if target.condition is not None:
                metric = self.runbook.metric(target.condition.metric)
                if resolved_since and metric is not None and metric.source == "incidents":
                    detail = (
                        f"cannot be rebuilt for then: {resolved_since} incident(s) open at the time were "
                        "resolved since, and the incident count sees only open ones"
                    )
                    readings.append(QualityReading(target.label, None, detail))
                    continue
                result = await self.bot.checker.check(target.condition, environment, now)
                readings.append(QualityReading(target.label, result.passed, result.detail))
            else:
                recorded = await FactBook(self.bot).reading(run.id, target.label, now)
                readings.append(recorded or await self._ticked_on_a_gate(run, target.label, history))
        return readings

    async def _incidents_resolved_since(self, run_id: str, at: datetime) -> int:
        return sum(
            1
            for a in await self.bot.store.alerts(run_id)
            if a.kind == "incident" and a.opened_at <= at and a.resolved_at is not None and a.resolved_at > at
        )

    async def _ticked_on_a_gate(self, run: Run, label: str, history: History | None = None) -> QualityReading:
        wanted = _words(label)
        for gate in self.runbook.gates:
            for section in gate.sections:
                for item in section.items:
                    if _words(item.text) != wanted:
                        continue
                    ticks = await self.bot.store.ticks(run.id, gate.id)
                    ticked = history.ticked(gate.id, ticks) if history else {t.item_id: t.name for t in ticks}
                    name = ticked.get(item.id)
                    if name is not None:
                        return QualityReading(label, True, f"ticked on {gate.id} by {name}")
        return QualityReading(label, None, f"nobody has recorded it: /ion record {slug(label)} yes|no [NOTE]")


def _words(text: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())
