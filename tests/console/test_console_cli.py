"""`ionbot console` as a script uses it: lines piped in, one JSON line per Web API call out."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from bot.cli import main


def test_piped_lines_with_a_virtual_clock_print_each_web_api_call_as_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = "\n".join(
        ["/ion start week17 2026-11-02", "/ion gonogo preflight", "tick 1", "bogus", "advance 30m", "quit"]
    )
    monkeypatch.setattr("sys.stdin", io.StringIO(script + "\n"))
    code = main(["console", "--clock", "virtual=2026-11-02T08:30", "--json", "--as", "lee"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    methods = [line["method"] for line in lines]
    assert "chat.postMessage" in methods and "chat.update" in methods
    gate_card = next(line["payload"] for line in lines if "Go/No-Go" in json.dumps(line["payload"]))
    assert gate_card["channel"] == "C_ION_ROLLOUT"
    assert "I don't know 'bogus'" in err
    assert "It is now Mon 02 Nov 09:00" in err


def test_a_bad_clock_option_is_one_sentence_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["console", "--clock", "virtual=next tuesday"]) == 2
    err = capsys.readouterr().err
    assert "is not a start time" in err and "Traceback" not in err


def test_an_unknown_starting_user_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["console", "--clock", "virtual", "--as", "zed"]) == 2
    assert "no demo team member 'zed'" in capsys.readouterr().err


def test_the_readme_walkthrough_runs_as_written_and_ends_with_day2_1_rolled_back(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = (Path(__file__).resolve().parents[2] / "docs" / "walkthrough.txt").read_text(encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(script))
    assert main(["console", "--clock", "virtual=2026-11-02T08:55"]) == 0
    out = capsys.readouterr().out
    assert "Week 17 Day 1 Report" in out and "Week 17 Day 2 Report" in out
    assert "day2.1 (production) rolled back: 1 target(s) restored to their snapshots and read back." in out
    assert "went wrong" not in out and "cannot run" not in out and "not approved" not in out
    # The preflight asks for a clean backtest: the red lines are on the card, then lee answers them.
    assert "every Monday 09:05-09:30: a batch job?" in out
    assert "❌ Triggers backtested in the last 7 days with no red line: 4" in out
    assert "/ion override preflight 6 REASON" in out
    assert "overridden by lee: Monday 09:00 P95 is the known batch job" in out
    assert "Decision: YES by lee" in out or "YES - Proceed with Week 17 implementation (lee" in out

    # An update prints the lines that changed, not the whole card again: the step card's header is drawn
    # once, when /ion step posts it; its updates show only their new lines (state, ticks, buttons).
    assert out.count("== day2.1 · Reduce Minimum Instances (US Region) ==") == 1
    assert "production ⏪ rolling back since 17:00 by lee" in out
    # 27 typed lines printed 1,034 lines when every update was a full card; the 5 PM reports' Armed tonight,
    # the 19:00 handover fallback and the morning standups' Overnight add about 35 (issue 19); the backtest,
    # its red check and the override with its channel note add about 45 (issue 20).
    assert len(out.splitlines()) < 720


def test_the_walkthrough_with_verbose_draws_every_updated_card_whole(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = ["/ion start week17 2026-11-02", "/ion step day2.1", "as maria", "/ion approve day2.1 staging"]
    lines += ["as sam", "/ion approve day2.1 staging", "quit"]
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
    assert main(["console", "--clock", "virtual=2026-11-03T08:50", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.count("== day2.1 · Reduce Minimum Instances (US Region) ==") == 3  # posted, then two updates
