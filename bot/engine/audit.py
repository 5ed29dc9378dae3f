"""The append-only audit log: every transition, decision and refusal, and its two renderings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict

from bot.engine.ports import Actor, Clock
from bot.engine.records import AuditEntry
from bot.engine.store import RolloutStore


class Auditor:
    """Writes audit entries stamped with the clock; the only writer of the log."""

    def __init__(self, store: RolloutStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self,
        actor: Actor,
        what: str,
        *,
        run_id: str | None = None,
        step_id: str | None = None,
        before: str | None = None,
        after: str | None = None,
        outcome: str = "ok",
        detail: str | None = None,
    ) -> AuditEntry:
        entry = self.entry(
            actor, what, run_id=run_id, step_id=step_id, before=before, after=after, outcome=outcome, detail=detail
        )
        await self._store.append_audit(entry)
        return entry

    def entry(
        self,
        actor: Actor,
        what: str,
        *,
        run_id: str | None = None,
        step_id: str | None = None,
        before: str | None = None,
        after: str | None = None,
        outcome: str = "ok",
        detail: str | None = None,
    ) -> AuditEntry:
        """An entry stamped now, not yet written: for a store call that writes it with its change."""
        return AuditEntry(
            id=uuid.uuid4().hex,
            at=self._clock.now(),
            actor_id=actor.user_id,
            actor_name=actor.name,
            run_id=run_id,
            step_id=step_id,
            what=what,
            before=before,
            after=after,
            outcome=outcome,
            detail=detail,
        )


def format_audit(entries: Sequence[AuditEntry], as_json: bool) -> str:
    """``ionbot audit``: one line per entry, or a JSON array (times in ISO 8601 UTC)."""
    if as_json:
        rows = []
        for entry in entries:
            row = asdict(entry)
            row["at"] = entry.at.isoformat()
            rows.append(row)
        return json.dumps(rows, indent=2)
    if not entries:
        return "No audit entries."
    return "\n".join(_line(entry) for entry in entries)


def _line(entry: AuditEntry) -> str:
    where = " ".join(part for part in (entry.run_id, entry.step_id) if part)
    move = ""
    if entry.before is not None or entry.after is not None:
        move = f" [{entry.before or '-'} -> {entry.after or '-'}]"
    flag = "" if entry.outcome == "ok" else f" ({entry.outcome.upper()})"
    detail = f": {entry.detail}" if entry.detail else ""
    stamp = entry.at.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{stamp} {entry.actor_name} {where} {entry.what}{move}{flag}{detail}".replace("  ", " ")
