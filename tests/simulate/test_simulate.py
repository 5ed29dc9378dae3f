"""`ionbot simulate`: a fault after day2.1 (alert, auto-rollback, the Day 2 report says so) and the files.

Three days are played here, with every check on (steps, gates, reports): day 3 changes the
same service again after day 2.1's rollback, so the rollback is judged by what it left, not by
the end of the run. test_whole_week.py plays the whole week.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.console.runner import logs_to_file
from bot.reports.chart_worker import shared_worker
from bot.simulate.cli import Outcome, simulate

FAULT = "error_rate_pct 2.5 after day2.1 for 10m"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    out = tmp_path_factory.mktemp("simulate")
    with logs_to_file(out / "bot.log"):  # the bot's own logs, as the CLI keeps them
        return asyncio.run(simulate(days=3, faults=(FAULT,), out=out / "files"))


def written(outcome: Outcome, name: str) -> str:
    return next(p for p in outcome.written if p.name == name).read_text(encoding="utf-8")


def test_the_fault_raises_an_alert_and_the_auto_rollback_restores_day2_1(outcome: Outcome) -> None:
    about_the_fault = [p for p in outcome.problems if "day2.1" in p or "alert" in p or "restored" in p]
    assert about_the_fault == []
    transcript = written(outcome, "transcript.txt")
    assert "Rollback trigger: Error rate > 1% for > 5 minutes" in transcript
    assert "day2.1 (production) rolled back" in transcript


def test_the_day2_report_lists_the_rollback_under_issues_and_blockers(outcome: Outcome) -> None:
    report = written(outcome, "20261103T1700CST-daily_report.txt")
    issues = report.split("Issues/Blockers:")[1].split("Next Day Plan:")[0]
    assert "day2.1" in issues and "rolled back" in issues


def test_every_report_digest_and_reminder_of_the_three_days_is_posted(outcome: Outcome) -> None:
    assert not [p for p in outcome.problems if "report" in p or "standup" in p or "reminder" in p]
    reports = {p.name for p in outcome.written if p.parent.name == "reports"}
    assert {f"2026110{day}T1700CST-daily_report.txt" for day in (2, 3, 4)} <= reports
    assert sum(1 for name in reports if "-standup-" in name) == 9
    assert any("gate-preflight" in name for name in reports)


def test_transcript_calls_and_chart_pngs_are_written(outcome: Outcome) -> None:
    names = {p.name for p in outcome.written}
    assert {"transcript.txt", "calls.jsonl"} <= names
    transcript = written(outcome, "transcript.txt")
    assert transcript.startswith("lee> /ion start week17 2026-11-02")
    assert "sam> click Sign off as sre_oncall" in transcript
    assert written(outcome, "calls.jsonl").count("\n") > 50
    charts = [p for p in outcome.written if p.suffix == ".png"]
    assert {p.name for p in charts} >= {"day1-metrics.png", "day2-metrics.png"}
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in charts)
    day2 = written(outcome, "20261103T1700CST-daily_report.txt")  # local time, with the run's zone
    assert "day2-metrics.png" in day2  # the report shows where its chart is


def test_everything_else_the_runbook_asked_for_happened(outcome: Outcome) -> None:
    assert outcome.problems == []


def test_a_day_count_outside_the_run_is_refused_before_anything_starts() -> None:
    from bot.console.words import ConsoleError

    with pytest.raises(ConsoleError, match="--days must be 1 to 10, not 11"):
        asyncio.run(simulate(days=11))


def test_on_call_answers_a_trigger_and_the_day3_gate_after_that_rollback_is_red_and_decided_no(tmp_path: Path) -> None:
    """Only the error-rate trigger rolls back by itself; for the others the simulated on-call
    rolls the step back with the one command when the alert posts. The Day 3 gate then counts the
    alert and the rollback, and the team decides PAUSE."""
    with logs_to_file(tmp_path / "bot.log"):
        played = asyncio.run(
            simulate(days=3, faults=("p95_latency_ms 150 after day3.1 for 10m",), out=tmp_path / "files")
        )
    assert played.problems == []
    transcript = written(played, "transcript.txt")
    alert = transcript.index("Rollback trigger: Response time P95 > 100ms")
    answer = transcript.index("sam> /ion rollback day3.1")
    assert alert < answer
    assert "day3.1 (production) rolled back" in transcript[answer:]
    # The Day 3 gate at 5 PM sees the morning's rollback: red, with what it counted, and decided NO.
    gate = transcript[transcript.index("lee> /ion gonogo gonogo.day3") :]
    assert "❌ No production incidents: no trigger fired, no rollback, no incident declared: 2" in gate
    assert "• alert " in gate and "Response time P95 > 100ms (day3.1) at 10:05" in gate
    assert "• rollback of day3.1 (production) at 10:05" in gate
    assert "❌ Metrics within acceptable range: no rollback trigger breached: 1" in gate
    assert "p95_latency_ms > 100 for 5m held 10:00-10:09 (worst 150)" in gate
    assert "• day3.1 Increase L1 Cache Size: production rolled_back at 10:05 and not re-run" in gate
    assert "lee> click PAUSE" in gate and "Decision: NO by lee" in gate
    assert "click GO to Phase 2" not in gate


def test_a_fault_at_a_time_rolls_back_whatever_step_is_latest_and_the_week_accepts_it(tmp_path: Path) -> None:
    """A fault from a time, not after a step: the error-rate trigger rolls back the latest production
    step by itself; the steps that depend on it are not played, and nothing else is asked for."""
    with logs_to_file(tmp_path / "bot.log"):
        played = asyncio.run(
            simulate(days=2, faults=("error_rate_pct 3 from day2 14:00 for 10m",), out=tmp_path / "files")
        )
    assert played.problems == []
    transcript = written(played, "transcript.txt")
    assert "Rollback trigger: Error rate > 1% for > 5 minutes" in transcript
    assert "day2.3 (production) rolled back" in transcript  # the latest production step at 14:00


def test_simulate_out_names_every_report_in_the_runs_zone_and_says_the_zone(outcome: Outcome) -> None:
    reports = sorted(p.name for p in outcome.written if p.parent.name == "reports")
    assert reports and all(name[13:16] == "CST" for name in reports), reports
    asia = [name for name in reports if "standup" in name and "asia" in name.lower()]
    assert asia and all(name.startswith("2026110") and name[9:13] == "0800" for name in asia), asia  # 22:00 SGT
    assert "times in America/Chicago" in outcome.summary


def test_on_call_backtests_before_the_preflight_and_the_lead_answers_its_red_lines_then_decides_yes(
    outcome: Outcome,
) -> None:
    """The preflight asks for triggers backtested with no red line; the sim's history has red lines on
    purpose: the summary shows them, the check is red and links the report, and lee lets that one
    check pass with a reason naming each line's cause before the team decides YES."""
    transcript = written(outcome, "transcript.txt")
    backtest = transcript.index("sam> /ion backtest 3")
    gate = transcript.index("lee> /ion gonogo preflight")
    override = transcript.index("lee> /ion override preflight 6 Red lines known:")
    yes = transcript.index("lee> click YES - Proceed with Week 17 implementation")
    assert backtest < gate < override < yes
    summary = transcript[backtest:gate]
    assert "Backtest of week17 on production, 3 weeks of history: 30 conditions, 4 red" in summary
    assert "p95_latency_ms > 100 for 5m would have fired 2 times in 3 weeks, every Monday 09:05-09:30" in summary
    assert "db_replication_lag_ms > 500 for 2m had no data 4.8 % of the time (23h58m): it is blind" in summary
    report = summary.split("Report: ")[1].split(" ")[0]  # the uploaded report's file
    uploaded = next(p for p in outcome.written if p.name == f"{report}-backtest.md")  # in --out's files/
    assert uploaded.read_text(encoding="utf-8").startswith("# Backtest: week17, production")
    card = transcript[gate:override]
    assert "❌ Triggers backtested in the last 7 days with no red line: 4 (threshold 0)" in card
    assert "answer each line with /ion override preflight 6 REASON" in card
    assert f"every Monday 09:05-09:30: a batch job? ({report})" in card
    answered = transcript[override:yes]
    assert (
        "overridden by lee: Red lines known: p95_latency_ms > 100 for 5m and p95_latency_ms <= baseline over 24h: "
        "batch job, every Monday 09:00-09:20; db_replication_lag_ms > 500 for 2m and db_replication_lag_ms < 100: "
        "lag exporter down for a day, Wed 21 Oct 00:00. Thresholds kept, on-call briefed."
    ) in answered
    assert "Decision: YES by lee" in transcript[yes:]
    assert not [p for p in outcome.problems if "override" in p]  # and it is in the audit log (verify.py)


def test_the_week_draws_its_charts_in_its_own_process_and_leaves_no_child(outcome: Outcome) -> None:
    assert shared_worker().here  # the demo's memory: no second interpreter with matplotlib
    assert shared_worker().pid() is None
    assert "Metrics chart: " in written(outcome, "20261103T1700CST-daily_report.txt")
