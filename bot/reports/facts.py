"""Facts only a person knows ("Zero data loss", "All tests passing"), recorded with `/ion record`.

A record names a quality target of the runbook (by its words: ``zero-data-loss`` finds "Zero data
loss"), says whether it holds and may carry a note. Records are appended to the run's key-value
list (two at once are both kept), audited, and the reports show the latest one at their time
with who recorded it. A target the bot measures from metrics is not recorded by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog

from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.ports import JSON, Actor
from bot.engine.report_model import QualityReading
from bot.engine.units import unit_of_work
from bot.runbook.models import QualityTarget, Runbook
from bot.runbook.suggest import did_you_mean

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)

YES = ("yes", "y", "true", "pass", "passed", "passing", "met", "ok", "done")
NO = ("no", "n", "false", "fail", "failed", "failing", "not-met", "unmet")


def facts_key(run_id: str) -> str:
    """Where `/ion record` appends a run's facts in the key-value store (a JSON list)."""
    return f"quality:records:{run_id}"


def slug(text: str) -> str:
    """ "Zero data loss" -> "zero-data-loss": the id a person types for a quality target."""
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


@dataclass(frozen=True)
class Fact:
    label: str
    passed: bool
    note: str
    by: str
    at: datetime


def manual_targets(runbook: Runbook) -> list[QualityTarget]:
    return [t for t in runbook.targets.quality if t.condition is None]


def find_target(runbook: Runbook, item: str) -> QualityTarget:
    """The quality target ``item`` names; a refusal lists the ones that can be recorded."""
    wanted = slug(item)
    for target in runbook.targets.quality:
        if slug(target.label) == wanted:
            if target.condition is not None:
                raise Refused(
                    f"{target.label!r} is measured by the bot ({target.condition.text or target.condition}), "
                    "so it is not recorded by hand. Nothing was recorded."
                )
            return target
    names = [slug(t.label) for t in manual_targets(runbook)]
    hint = did_you_mean(wanted, names) or "."
    raise Refused(
        f"There is no quality target {item!r} to record{hint} "
        f"The ones recorded by hand are: {', '.join(names) or 'none'}. Nothing was recorded."
    )


def verdict(value: str) -> bool:
    lowered = value.lower()
    if lowered in YES:
        return True
    if lowered in NO:
        return False
    raise Refused(f"{value!r} is not a verdict; write yes or no (or pass / fail). Nothing was recorded.")


class FactBook:
    """Records facts and reads the latest one per target as of a time."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def record(self, run_id: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        target = find_target(self.bot.runbook, item)
        passed = verdict(value)
        now = self.bot.clock.now()
        fact: dict[str, JSON] = {
            "label": target.label,
            "passed": passed,
            "note": note or "",
            "by": actor.name,
            "at": now.isoformat(),
        }
        said = "holds" if passed else "does not hold"
        detail = f"{target.label}: {said}" + (f" ({note})" if note else "")
        async with unit_of_work():  # the fact and its audit entry, or (cut off) neither
            await self.bot.store.append_value(facts_key(run_id), fact)
            await self.bot.rollout.note(actor, AuditKind.RECORD_QUALITY, run_id=run_id, detail=detail)
        return (
            f"Recorded {target.label!r}: {said}, by {actor.name}"
            + (f" ({note})" if note else "")
            + (". The next report shows it.")
        )

    async def facts(self, run_id: str, at: datetime) -> list[Fact]:
        stored = await self.bot.store.get_value(facts_key(run_id))
        found: list[Fact] = []
        for raw in stored if isinstance(stored, list) else []:
            try:
                fact = Fact(
                    str(raw["label"]),
                    bool(raw["passed"]),
                    str(raw.get("note", "")),
                    str(raw.get("by", "")),
                    datetime.fromisoformat(str(raw["at"])),
                )
            except (KeyError, TypeError, ValueError):
                log.warning("unreadable quality record skipped", run_id=run_id, record=raw)
                continue
            if fact.at <= at:
                found.append(fact)
        return sorted(found, key=lambda f: f.at)

    async def reading(self, run_id: str, label: str, at: datetime) -> QualityReading | None:
        """The latest record of ``label`` at ``at`` as a reading, or None when nobody recorded it."""
        latest = [f for f in await self.facts(run_id, at) if f.label == label]
        if not latest:
            return None
        fact = latest[-1]
        local = fact.at.astimezone(ZoneInfo(self.bot.runbook.calendar.timezone))
        return QualityReading(label, fact.passed, fact.note, fact.by, local)
