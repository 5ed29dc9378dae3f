"""`ionbot simulate` plays two days with a fault after day2.1: the alert, the auto-rollback, the files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.simulate.cli import Outcome, simulate
from bot.slack.console import logs_to_file

FAULT = "error_rate_pct 2.5 after day2.1 for 10m"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    out = tmp_path_factory.mktemp("simulate")
    with logs_to_file(out / "bot.log"):  # the bot's own logs, as the CLI keeps them
        return asyncio.run(simulate(days=2, faults=(FAULT,), out=out / "files"))


def test_the_fault_raises_an_alert_and_the_auto_rollback_restores_day2_1(outcome: Outcome) -> None:
    about_the_fault = [p for p in outcome.problems if "day2.1" in p or "alert" in p or "restored" in p]
    assert about_the_fault == []
    transcript = next(p for p in outcome.written if p.name == "transcript.txt").read_text(encoding="utf-8")
    assert "Rollback trigger: Error rate > 1% for > 5 minutes" in transcript
    assert "day2.1 (production) rolled back" in transcript


def test_the_gate_and_day2_steps_that_do_not_wait_on_day2_1_happen(outcome: Outcome) -> None:
    assert not [p for p in outcome.problems if "preflight" in p or "day2.2" in p or "day2.4" in p]


def test_transcript_and_every_recorded_call_are_written(outcome: Outcome) -> None:
    names = {p.name for p in outcome.written}
    assert {"transcript.txt", "calls.jsonl"} <= names
    transcript = next(p for p in outcome.written if p.name == "transcript.txt").read_text(encoding="utf-8")
    assert transcript.startswith("lee> /ion start week17 2026-11-02")
    assert "sam> click Sign off as sre_oncall" in transcript
    calls = Path(next(p for p in outcome.written if p.name == "calls.jsonl")).read_text(encoding="utf-8")
    assert calls.count("\n") > 50


@pytest.mark.xfail(
    strict=True,
    reason="day1.3's plan cannot be built on a one-revision service (cloud_run.traffic: 'no other revision "
    "serves traffic'), so day1.3 and day1.4 stay undone; remove this mark once the traffic action is fixed",
)
def test_everything_else_the_runbook_asked_for_happened(outcome: Outcome) -> None:
    assert outcome.problems == []
