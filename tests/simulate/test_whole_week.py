"""The whole week, as `ionbot simulate` plays it with no options: every step, gate and report."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.simulate.cli import simulate
from bot.slack.console import logs_to_file


def test_the_whole_week_does_everything_the_runbook_asks(tmp_path: Path) -> None:
    with logs_to_file(tmp_path / "bot.log"):
        outcome = asyncio.run(simulate(out=tmp_path / "out"))
    assert outcome.problems == []
    names = {p.name for p in outcome.written}
    assert "20261113T1700-final_report.txt" in names or any("final_report" in n for n in names)
    assert sum(1 for n in names if "daily_report" in n and n.endswith(".txt")) == 10
