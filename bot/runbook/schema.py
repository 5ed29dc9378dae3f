"""The JSON Schema of the runbook format, for editors (yaml-language-server, VS Code).

Pydantic's schema is post-processed where our YAML spelling differs from the Python type:
conditions, durations and clock times are written as strings, not objects or ISO 8601.
"""

from __future__ import annotations

from typing import Any

from bot.runbook.models import Runbook

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_INTERNAL_DEFS = ("Condition", "Threshold")


def runbook_json_schema() -> dict[str, Any]:
    """Runbook.model_json_schema(), made truthful for the strings a runbook author writes."""
    schema = Runbook.model_json_schema()
    cleaned = _clean(schema)
    assert isinstance(cleaned, dict)
    defs = cleaned.get("$defs", {})
    for name in _INTERNAL_DEFS:
        defs.pop(name, None)
    return {"$schema": SCHEMA_DIALECT, **cleaned}


def _clean(node: Any) -> Any:
    if isinstance(node, list):
        return [_clean(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _clean(value) for key, value in node.items()}
    if out.get("type") == "string" and "$ref" in out:
        del out["$ref"]  # a condition: written as text, parsed by the loader
    if "pattern" in out and out.get("format") in ("duration", "time"):
        del out["format"]  # "5m" and "17:00" are not ISO 8601 / RFC 3339
    return out
