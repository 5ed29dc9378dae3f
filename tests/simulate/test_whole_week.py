"""The whole week, as `ionbot simulate` plays it with no options: every step, gate and report."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from bot.console.runner import logs_to_file
from bot.simulate.cli import simulate
from bot.slack.blocks.limits import validate_message, validate_view


def test_the_whole_week_does_everything_the_runbook_asks(tmp_path: Path) -> None:
    with logs_to_file(tmp_path / "bot.log"):
        outcome = asyncio.run(simulate(out=tmp_path / "out"))
    assert outcome.problems == []
    names = {p.name for p in outcome.written}
    assert "20261113T1700-final_report.txt" in names or any("final_report" in n for n in names)
    assert sum(1 for n in names if "daily_report" in n and n.endswith(".txt")) == 10
    assert_every_call_within_slack_limits(tmp_path / "out" / "calls.jsonl")
    assert_the_team_pressed_done_with_what_it_measured((tmp_path / "out" / "transcript.txt").read_text("utf-8"))


def assert_the_team_pressed_done_with_what_it_measured(transcript: str) -> None:
    """Manual work is done by a named person with a measured value, never ticked off by itself."""
    benchmark = re.search(r"dana> /ion done day3\.1 cache-benchmark ([\d.]+)%", transcript)
    memory = re.search(r"dana> /ion done day3\.1 memory-check ([\d.]+) MB", transcript)
    assert benchmark is not None and 65 < float(benchmark.group(1)) < 80, "the sim's L1 hit rate on staging"
    assert memory is not None and 0 < float(memory.group(1)) < 4, "the sim's L1 memory rise on staging"
    assert re.search(r"> /ion done day10\.2 handoff https://\S+", transcript)
    assert "recorded as done at" not in transcript


def _decoded(value: object) -> object:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def assert_every_call_within_slack_limits(calls: Path) -> None:
    """Every message and view the bot sent all week is one Slack would take (blocks, texts, sizes)."""
    problems: list[str] = []
    checked = 0
    for line in calls.read_text(encoding="utf-8").splitlines():
        call = json.loads(line)
        method, payload = call["method"], call["payload"]
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            blocks = _decoded(payload.get("blocks") or [])
            assert isinstance(blocks, list)
            problems += [f"{method}: {p}" for p in validate_message(blocks)]
            if len(str(payload.get("text", ""))) > 40_000:
                problems.append(f"{method}: text over 40,000 characters")
            checked += 1
        elif method in ("views.open", "views.update", "views.publish", "views.push"):
            view = _decoded(payload.get("view"))
            assert isinstance(view, dict)
            problems += [f"{method}: {p}" for p in validate_view(view)]
            checked += 1
    assert checked > 500
    assert problems == []
