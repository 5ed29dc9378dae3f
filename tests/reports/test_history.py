"""How a past report time is read back from the store's records: lanes, ticks, gate decisions, alerts."""

from __future__ import annotations

from datetime import datetime

from bot.engine.audit_kinds import AuditKind
from bot.engine.ports import AlertRecord
from bot.engine.records import AuditEntry, ChecklistTick
from bot.reports.gather import History, LaneMove, alert_state_at
from tests.reports.fixtures import utc

THEN = utc(2026, 11, 3, 23)  # 17:00 in Chicago on Day 2


def _entry(what: str, at: datetime, scope: str, before: str | None = None, after: str | None = None) -> AuditEntry:
    return AuditEntry(f"{what}{at:%H%M}", at, "U_SAM", "sam", "run-1", AuditKind(what), scope, None, before, after)


def _move(step: str, state: str, at: datetime, audited: bool = True) -> LaneMove:
    return LaneMove(step, "production", state, at, "U_LEE", "lee", audited)


def _alert(**data: str) -> AlertRecord:
    return AlertRecord("a1", "run-1", "error_rate", "breach", "held", utc(2026, 11, 3, 20), "errors", data=dict(data))


def test_a_lane_stands_at_its_latest_move_by_then_and_a_lane_not_moved_yet_is_absent() -> None:
    moves = [
        _move("day2.1", "done", utc(2026, 11, 3, 16)),
        _move("day2.1", "rolled_back", utc(2026, 11, 4, 16)),
        _move("day2.2", "ready", utc(2026, 11, 4, 15)),
    ]
    lanes = History(THEN, moves, []).lanes()
    assert {key: move.state for key, move in lanes.items()} == {("day2.1", "production"): "done"}


def test_ticks_replay_the_audit_log_so_an_item_unticked_since_still_counts_as_ticked_then() -> None:
    audit = [
        _entry("tick", utc(2026, 11, 3, 18), "day2.1", after="backup"),
        _entry("untick", utc(2026, 11, 4, 15), "day2.1", before="backup"),
        _entry("tick", utc(2026, 11, 4, 16), "day2.1", after="healthy"),
    ]
    stored = [ChecklistTick("run-1", "day2.1", "healthy", "U_SAM", "sam", utc(2026, 11, 4, 16))]
    assert History(THEN, [], audit).ticked("day2.1", stored) == {"backup": "sam"}


def test_a_tick_the_audit_log_never_mentions_counts_by_its_own_time() -> None:
    stored = [
        ChecklistTick("run-1", "day2.1", "backup", "U_SAM", "sam", utc(2026, 11, 3, 18)),
        ChecklistTick("run-1", "day2.1", "healthy", "U_SAM", "sam", utc(2026, 11, 4, 16)),
    ]
    assert History(THEN, [], []).ticked("day2.1", stored) == {"backup": "sam"}


def test_a_no_reopened_since_is_still_the_decision_then() -> None:
    audit = [
        _entry("gate decided", utc(2026, 11, 3, 22), "gonogo.day3", "undecided", "no"),
        _entry("gate reopened", utc(2026, 11, 5, 15), "gonogo.day3", "no", "undecided"),
    ]
    entry, recorded = History(THEN, [], audit).decision("gonogo.day3")
    assert recorded and entry is not None and entry.after == "no"
    assert History(utc(2026, 11, 5, 16), [], audit).decision("gonogo.day3") == (None, True)
    assert History(THEN, [], audit).decision("gonogo.day7") == (None, False)


def test_an_alert_is_open_until_acknowledged_and_held_by_their_own_times() -> None:
    alert = _alert(acknowledged_at=utc(2026, 11, 3, 21).isoformat(), held_at=utc(2026, 11, 4, 15).isoformat())
    assert alert_state_at(alert, utc(2026, 11, 3, 20, 30)) == "open"
    assert alert_state_at(alert, THEN) == "acknowledged"
    assert alert_state_at(alert, utc(2026, 11, 4, 16)) == "held"


def test_a_lane_known_only_by_a_later_state_is_named_as_not_rebuilt() -> None:
    moves = [_move("day2.1", "done", utc(2026, 11, 3, 16)), _move("day2.2", "done", utc(2026, 11, 4, 16), False)]
    [gap] = History(THEN, moves, []).gaps()
    assert gap.startswith("day2.2 (production) changed after then and the audit log has no earlier state")
    assert History(utc(2026, 11, 4, 17), moves, []).gaps() == []
