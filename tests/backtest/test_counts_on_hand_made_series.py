"""Firings, flaps, no-data stretches and no-data alerts counted exactly on a hand-made day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.backtest.lifecycle import Span
from bot.backtest.run import backtest
from bot.backtest.subjects import subjects
from bot.backtest.timeline import History
from bot.engine.ports import Point, Series
from tests.triggers.builders import seed_runbook

BOOK = seed_runbook([{"id": "p95", "title": "P95", "condition": "p95_latency_ms > 100 for 5m"}])
DAY = datetime(2026, 11, 17, tzinfo=UTC)  # a Tuesday


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


def hand_made() -> Series:
    """36 ms all day from 07:00 to 17:00, but 150 from 09:00 to 09:07 (8 points) and from 11:00 to 11:29
    (30 points), and no points at all from 13:00 to 13:59."""
    points = []
    moment = at(7)
    while moment <= at(17):
        spike = at(9) <= moment <= at(9, 7) or at(11) <= moment <= at(11, 29)
        if not at(13) <= moment <= at(13, 59):
            points.append(Point(moment, 150.0 if spike else 36.0))
        moment += timedelta(minutes=1)
    return Series("p95_latency_ms", tuple(points), 60.0)


def test_a_short_breach_flaps_a_long_one_does_not_and_the_gap_is_one_stretch_and_one_alert() -> None:
    chosen, skipped = subjects(BOOK, "production")
    result = backtest(BOOK, chosen, {"p95_latency_ms": History.of(hand_made())}, "production", at(8), at(16))
    [line] = result.lines

    assert line.firings == (Span(at(9, 5), at(9, 18)), Span(at(11, 5), at(11, 40)))
    assert line.flaps == 1  # 13 minutes from firing to resolved; the 35-minute one is no flap
    assert line.firing_seconds == (13 + 35) * 60
    # stale from 13:02 (the newest point, 12:59, is more than two steps old) until 14:00's point
    assert line.no_data == (Span(at(13, 2), at(14)),)
    assert line.no_data_alerts == 1  # opened on the third unknown poll (13:04), resolved at 14:00
    assert line.polls == 481 and line.unknown_share == 58 / 481
    assert sum(line.heat) == 13 + 35  # minutes firing, all on Tuesday (UTC 09h and 11h are 03h and 05h in Chicago)
    assert line.heat[1 * 24 + 3] == 13 and line.heat[1 * 24 + 5] == 35
    assert line.values is not None and line.values.max == 150.0 and line.values.p50 == 36.0
    assert line.verdict.colour == "red"  # 2 firings in under a week is more than once a week
    assert skipped == []
