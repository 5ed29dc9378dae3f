"""The append-only audit log: every transition, decision and refusal, and its two renderings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from bot.engine.audit_kinds import AuditKind
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
        kind: AuditKind,
        *,
        run_id: str | None = None,
        step_id: str | None = None,
        environment: str | None = None,
        before: str | None = None,
        after: str | None = None,
        outcome: str = "ok",
        detail: str | None = None,
        label: str | None = None,
    ) -> AuditEntry:
        entry = self.entry(
            actor,
            kind,
            run_id=run_id,
            step_id=step_id,
            environment=environment,
            before=before,
            after=after,
            outcome=outcome,
            detail=detail,
            label=label,
        )
        await self._store.append_audit(entry)
        return entry

    def entry(
        self,
        actor: Actor,
        kind: AuditKind,
        *,
        run_id: str | None = None,
        step_id: str | None = None,
        environment: str | None = None,
        before: str | None = None,
        after: str | None = None,
        outcome: str = "ok",
        detail: str | None = None,
        label: str | None = None,
    ) -> AuditEntry:
        """An entry stamped now, not yet written: for a store call that writes it with its change.

        A worded kind needs its words (``label``); any other kind has the kind's own, so a label
        given with it would be shown nowhere and is refused."""
        if kind.worded != bool(label):
            needs = "needs a label" if kind.worded else "takes no label"
            raise ValueError(f"an audit entry of kind {kind.name} {needs}")
        return AuditEntry(
            id=uuid.uuid4().hex,
            at=self._clock.now(),
            actor_id=actor.user_id,
            actor_name=actor.name,
            run_id=run_id,
            kind=kind,
            step_id=step_id,
            environment=environment,
            before=before,
            after=after,
            outcome=outcome,
            detail=detail,
            label=label,
        )


# ``ionbot audit --json``: the columns it always had, in their order, and the environment and kind.
JSON_COLUMNS = (
    "id",
    "at",
    "actor_id",
    "actor_name",
    "run_id",
    "step_id",
    "environment",
    "what",
    "kind",
    "before",
    "after",
    "outcome",
    "detail",
)


def format_audit(entries: Sequence[AuditEntry], as_json: bool) -> str:
    """``ionbot audit``: one line per entry, or a JSON array (times in ISO 8601 UTC)."""
    if as_json:
        rows = [{column: _json_value(entry, column) for column in JSON_COLUMNS} for entry in entries]
        return json.dumps(rows, indent=2)
    if not entries:
        return "No audit entries."
    return "\n".join(_line(entry) for entry in entries)


def _json_value(entry: AuditEntry, column: str) -> object:
    if column == "at":
        return entry.at.isoformat()
    if column == "kind":
        return entry.kind.value
    value: object = getattr(entry, column)
    return value


def _line(entry: AuditEntry) -> str:
    where = " ".join(part for part in (entry.run_id, entry.scope) if part)
    move = ""
    if entry.before is not None or entry.after is not None:
        move = f" [{entry.before or '-'} -> {entry.after or '-'}]"
    flag = "" if entry.outcome == "ok" else f" ({entry.outcome.upper()})"
    detail = f": {entry.detail}" if entry.detail else ""
    stamp = entry.at.strftime("%Y-%m-%d %H:%M:%SZ")
    return f"{stamp} {entry.actor_name} {where} {entry.what}{move}{flag}{detail}".replace("  ", " ")
