"""Filtering a run's audit log the way an auditor asks: by step, person, kind of entry, outcome, words.

A query is plain data (the web page's form fields), so the same filter serves the HTML page and
the CSV and JSON Lines downloads; an unknown outcome is refused in a sentence, not ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.engine.records import AuditEntry

OUTCOMES = ("ok", "refused", "failed")
FIELDS = ("step", "who", "what", "outcome", "text")


class BadQuery(ValueError):
    """A filter that cannot mean anything; the message says what to write instead."""


@dataclass(frozen=True)
class AuditQuery:
    step: str = ""
    who: str = ""
    what: str = ""
    outcome: str = ""
    text: str = ""

    @classmethod
    def parse(cls, fields: Mapping[str, str]) -> AuditQuery:
        values = {name: (fields.get(name) or "").strip() for name in FIELDS}
        if values["outcome"] and values["outcome"] not in OUTCOMES:
            raise BadQuery(f"outcome must be one of {', '.join(OUTCOMES)}, not '{values['outcome']}'.")
        for name, value in values.items():
            if len(value) > 200:
                raise BadQuery(f"the {name} filter is longer than 200 characters; shorten it.")
        return cls(**values)

    @property
    def empty(self) -> bool:
        return not any((self.step, self.who, self.what, self.outcome, self.text))

    def as_params(self) -> dict[str, str]:
        """The non-empty fields, for links that keep the filter (the downloads)."""
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name)}

    def matches(self, entry: AuditEntry) -> bool:
        step, _, environment = self.step.partition("@")  # "day2.1" or one lane, "day2.1@production"
        if step and entry.step_id != step:
            return False
        if environment and entry.environment != environment:
            return False
        if self.who and self.who.lower() not in f"{entry.actor_name} {entry.actor_id}".lower():
            return False
        if self.what and self.what.lower() not in entry.what.lower():
            return False
        if self.outcome and entry.outcome != self.outcome:
            return False
        if self.text:
            words = " ".join(str(v) for v in (entry.what, entry.before, entry.after, entry.detail) if v)
            if self.text.lower() not in words.lower():
                return False
        return True

    def apply(self, entries: Iterable[AuditEntry]) -> list[AuditEntry]:
        return [entry for entry in entries if self.matches(entry)]
