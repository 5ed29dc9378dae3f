"""The one error the chat layer shows as-is: a refusal, worded for the person who asked."""

from __future__ import annotations


class Refused(Exception):
    """The engine said no; ``message`` says what was refused, that nothing changed and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.audited = False  # set once an audit entry records it; the chat layer records the rest


class StoreUnavailable(Exception):
    """The state store cannot be reached or written right now (a database outage, a vanished or
    read-only SQLite file); the store raises it instead of the driver's own error so the engine
    and the chat layer can wait, or answer without the database, without importing SQLAlchemy."""
