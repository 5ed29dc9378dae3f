"""The audit log as files an auditor keeps: CSV (a spreadsheet) and JSON Lines (a script), both UTF-8.

Columns are the AuditEntry's fields in a fixed order, times in ISO 8601 UTC, so two downloads
of the same run compare line by line. A cell starting with = + - @ is prefixed with a quote:
a spreadsheet must show it, never run it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict

from bot.engine.records import AuditEntry

COLUMNS = (
    "at",
    "actor_id",
    "actor_name",
    "run_id",
    "step_id",
    "environment",
    "kind",
    "what",
    "before",
    "after",
    "outcome",
    "detail",
    "id",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _row(entry: AuditEntry) -> dict[str, str | None]:
    row = {k: (None if v is None else str(v)) for k, v in asdict(entry).items()}
    row["at"] = entry.at.isoformat()
    row["what"] = entry.what  # the words the log shows (the kind's, or a worded kind's label)
    return row


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def audit_csv(entries: Iterable[AuditEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        row = _row(entry)
        writer.writerow([_cell(row.get(column)) for column in COLUMNS])
    return out.getvalue()


def audit_jsonl(entries: Iterable[AuditEntry]) -> str:
    lines = []
    for entry in entries:
        row = _row(entry)
        lines.append(json.dumps({column: row.get(column) for column in COLUMNS}, ensure_ascii=False))
    return "".join(line + "\n" for line in lines)
