"""Reports rendered from the scripted day match the golden files; user text cannot ping or reformat."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from bot.engine.report_data import (
    OpenAlert,
    PendingApproval,
    StepOutcome,
    UntickedItem,
    daily_report,
    final_report,
    phase_summary,
    standup_digest,
)
from bot.reports.context import render_report, render_step_card, step_card
from bot.reports.escape import mrkdwn
from bot.reports.render import ReportRenderer, format_value
from tests.reports import scripted
from tests.reports.fixtures import utc, week17_runbook

GOLDEN = Path(__file__).parent / "golden"
RUNBOOK = week17_runbook()
RENDERER = ReportRenderer()


UPDATE_HINT = "ION_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reports/test_rendering.py"


def assert_golden(name: str, text: str, golden: Path = GOLDEN) -> None:
    """Compare with golden/<name>; ION_UPDATE_GOLDEN=1 rewrites it (check the diff by eye first).

    A missing golden file fails: writing it silently would make a lost file pass forever.
    """
    path = golden / name
    if os.environ.get("ION_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    if not path.exists():
        pytest.fail(f"golden/{name} does not exist; write it with `{UPDATE_HINT}` and check it by eye")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), f"golden/{name}", "rendered"
            )
        )
        pytest.fail(f"{name} differs from its golden file (if intended, regenerate: `{UPDATE_HINT}`):\n{diff}")


def test_daily_report_matches_golden() -> None:
    report = daily_report(RUNBOOK, 2, *scripted.common(RUNBOOK))
    assert_golden("daily_report_day2.md", render_report(RENDERER, report))


def test_quiet_late_daily_report_matches_golden() -> None:
    ledger = scripted.empty_ledger(RUNBOOK)
    report = daily_report(RUNBOOK, 4, [], [], [], [], [], ledger, late=True)
    assert_golden("daily_report_day4_quiet_late.md", render_report(RENDERER, report))


def test_standup_matches_golden() -> None:
    digest = standup_digest(RUNBOOK, 3, "EU", *scripted.common(RUNBOOK))
    assert_golden("standup_day3_eu.md", render_report(RENDERER, digest))


def test_phase_summary_matches_golden() -> None:
    summary = phase_summary(RUNBOOK, 5, *scripted.common(RUNBOOK), scripted.DECISIONS, scripted.QUALITY)
    assert_golden("phase_summary_day5.md", render_report(RENDERER, summary))


def test_the_phase_summary_lists_every_quality_target_with_its_reading() -> None:
    summary = phase_summary(RUNBOOK, 5, *scripted.common(RUNBOOK), scripted.DECISIONS, scripted.QUALITY)
    text = render_report(RENDERER, summary)
    section = text.split("*Quality targets:*\n", 1)[1].split("\n\n", 1)[0]
    assert section.splitlines() == [
        "- :white_check_mark: Uptime: 99.95%+: met (99.97% over the rollout)",
        "- :x: Error Rate: &lt;0.5%: not met (0.7% on day 2)",
        "- :grey_question: Zero data loss: unknown (no data)",
        "- :grey_question: All tests passing: unknown (not checked)",
        "- :grey_question: No production incidents: unknown (not checked)",
    ]


def test_final_report_matches_golden() -> None:
    report = final_report(RUNBOOK, 10, *scripted.common(RUNBOOK), scripted.DECISIONS, scripted.QUALITY)
    assert_golden("final_report_day10.md", render_report(RENDERER, report))


def test_a_missing_golden_file_fails_and_says_how_to_write_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ION_UPDATE_GOLDEN", raising=False)
    with pytest.raises(pytest.fail.Exception, match="ION_UPDATE_GOLDEN=1"):
        assert_golden("new_report.md", "*Week 17 Day 2 Report*\n", tmp_path)
    assert not (tmp_path / "new_report.md").exists()


def test_step_card_text_matches_golden() -> None:
    step = RUNBOOK.step("day2.1")
    assert step is not None
    card = step_card(
        step, "production", "approved", {"healthy"}, ["ion-mentoring-api us-central1: minInstances 3 -> 2"]
    )
    assert_golden("step_card_day2.1.txt", render_step_card(RENDERER, card))


def test_missing_values_render_as_no_data() -> None:
    assert format_value(None, "pct") == "no data"
    assert format_value(82.3, "pct") == "82.3%"
    assert format_value(-250, "usd") == "-$250"
    ledger = scripted.empty_ledger(RUNBOOK)
    text = render_report(RENDERER, daily_report(RUNBOOK, 2, [], [], [], [], [], ledger))
    assert "- Combined Hit Rate: 82.3% → no data (target 85%)" in text


class TestEscaping:
    def test_escape_neutralises_entities_broadcasts_and_markers(self) -> None:
        assert mrkdwn("<!channel> & <@U123|bob>") == "&lt;!\u200bchannel&gt; &amp; &lt;@U123|bob&gt;"
        assert mrkdwn("ping @here and @Everyone") == "ping @\u200bhere and @\u200bEveryone"
        assert (
            mrkdwn("*bold* ~gone~ `code` _it_") == "\u2217bold\u2217 \u223cgone\u223c \u02cbcode\u02cb \u02cdit\u02cd"
        )
        assert mrkdwn("error_rate_pct stays") == "error_rate_pct stays"

    def test_hostile_user_text_in_every_field_stays_inert(self) -> None:
        evil = "<!here> *x* @channel <https://evil.example|click>"
        outcomes = [StepOutcome("day2.1", evil, evil, "done", utc(2026, 10, 23, 15), evil)]
        report = daily_report(
            RUNBOOK,
            2,
            [*outcomes, StepOutcome("day2.3", evil, evil, "failed", utc(2026, 10, 23, 16), evil)],
            [],
            [OpenAlert("error_rate", evil, utc(2026, 10, 23, 17))],
            [PendingApproval("day2.3", evil, evil, evil, evil)],
            [UntickedItem("day2.1", "x", evil)],
            scripted.empty_ledger(RUNBOOK),
        )
        text = render_report(RENDERER, report)
        assert evil not in text
        assert "<" not in text and "@channel" not in text and "*x*" not in text
        assert "&lt;!\u200bhere&gt; ∗x∗ @\u200bchannel &lt;https://evil.example|click&gt;" in text
