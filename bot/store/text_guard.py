"""The store's text boundary: every string a statement binds is made storable on every backend.

The JSON columns get the same cleaning through the engine's ``json_serializer`` (db.py); this
hook covers the text columns (an audit detail, an incident's words, a reason), so a NUL or a lone
surrogate in what a person typed is stored as U+FFFD instead of failing the whole transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.safe_text import clean_parameters


def guard_text(engine: AsyncEngine) -> None:
    """Clean the parameters of every statement ``engine`` runs, just before the driver sees them."""

    @event.listens_for(engine.sync_engine, "before_cursor_execute", retval=True)
    def _clean(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> tuple[str, Any]:
        return statement, clean_parameters(parameters)
