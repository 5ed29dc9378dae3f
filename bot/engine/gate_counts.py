"""What a Go/No-Go health check that counts (incidents, breaches, steps, backtests) hands back:
the check's result and each thing it counted, kept apart so every counter can import them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.ports import CheckResult


@dataclass(frozen=True)
class Counted:
    """One thing a check counted: a line a person reads, and the alert it refers to, if any."""

    text: str
    alert_id: str | None = None

    def as_json(self) -> dict[str, str]:
        return {"text": self.text, **({"alert": self.alert_id} if self.alert_id else {})}


@dataclass(frozen=True)
class Evidence:
    result: CheckResult
    counted: tuple[Counted, ...] = ()
