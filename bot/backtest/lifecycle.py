"""The alerts a trigger would have raised: its poll verdicts played through the watcher's own
transitions (``bot.engine.triggers.decide``): one alert per breach, no re-firing while it is open,
resolved only after a whole cool-down clear, a no-data alert after N unknown polls in a row.

Only the polls that can change something are handed to ``decide``: a false poll with nothing open
and a true poll under an open alert that is not clearing change nothing (decide returns no change
but a refreshed value), so they are skipped in bulk. So is a run of unknown polls under an open
no-data alert (with no breach clearing): each only counts itself into the alert ("no_data_ongoing"),
which changes no span (a blind day of a three-week history was 34,000 calls of ``decide``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from bot.backtest.timeline import FALSE, TRUE, UNKNOWN, Ints, States, moment
from bot.engine.evaluator import Evaluation, State
from bot.engine.ports import AlertRecord
from bot.engine.triggers import TriggerContext, TriggerPolicy, decide
from bot.runbook.models import Trigger

_STATE_NAMES: dict[int, State] = {FALSE: "false", TRUE: "true", UNKNOWN: "unknown"}


@dataclass(frozen=True)
class Span:
    """An alert's life: opened, and resolved (None: still open when the history ends)."""

    opened_at: datetime
    resolved_at: datetime | None

    def length(self, end: datetime) -> float:
        """Seconds it was open, counting up to ``end`` when it never resolved."""
        return ((self.resolved_at or end) - self.opened_at).total_seconds()


@dataclass(frozen=True)
class Alerts:
    firings: tuple[Span, ...]
    no_data: tuple[Span, ...]


def replay(trigger: Trigger, states: States, polls: Ints, limit: float | None, policy: TriggerPolicy) -> Alerts:
    """The breach and no-data alerts ``trigger`` would have raised polled at ``polls``."""
    n = len(states)
    next_not_false = _next_index(states != FALSE)
    next_not_true = _next_index(states != TRUE)
    next_known = _next_index(states != UNKNOWN)
    breach: AlertRecord | None = None
    no_data: AlertRecord | None = None
    unknown_polls = 0
    firings: list[tuple[datetime, datetime | None]] = []
    blind: list[tuple[datetime, datetime | None]] = []
    i = 0
    while i < n:
        state = int(states[i])
        if breach is None and no_data is None and state == FALSE:
            i, unknown_polls = int(next_not_false[i]), 0
            continue
        if breach is not None and breach.clear_since is None and no_data is None and state == TRUE:
            i, unknown_polls = int(next_not_true[i]), 0
            continue
        if no_data is not None and (breach is None or breach.clear_since is None) and state == UNKNOWN:
            known = int(next_known[i])
            i, unknown_polls = known, unknown_polls + (known - i)
            continue
        now = moment(int(polls[i]))
        verdict = Evaluation(_STATE_NAMES[state], None, limit, None, "backtest")
        ctx = TriggerContext(run_id="backtest", now=now, new_id=f"backtest-{i}", environment=trigger.environment)
        decision = decide(trigger, verdict, breach, no_data, unknown_polls, ctx, policy)
        unknown_polls = decision.unknown_polls
        for change in decision.changes:
            alert = change.alert
            if change.kind == "opened":
                firings.append((now, None))
            elif change.kind == "resolved":
                firings[-1] = (firings[-1][0], now)
            elif change.kind == "no_data_opened":
                blind.append((now, None))
            elif change.kind == "no_data_resolved":
                blind[-1] = (blind[-1][0], now)
            active = alert if alert.state != "resolved" else None
            if alert.kind == "no_data":
                no_data = active
            else:
                breach = active
        i += 1
    return Alerts(tuple(Span(a, b) for a, b in firings), tuple(Span(a, b) for a, b in blind))


def _next_index(mask: np.ndarray) -> Ints:
    """For each position, the first position at or after it where ``mask`` is true (len if none)."""
    n = len(mask)
    found = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(found[::-1])[::-1].astype(np.int64)
