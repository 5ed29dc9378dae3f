"""The one error the chat layer shows as-is: a refusal, worded for the person who asked."""

from __future__ import annotations


class Refused(Exception):
    """The engine said no; ``message`` says what was refused, that nothing changed and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.audited = False  # set once an audit entry records it; the chat layer records the rest
