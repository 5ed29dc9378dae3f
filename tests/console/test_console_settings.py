"""Issue 17 items 5 and 23: the console and simulate honour ION_TEMPLATES_DIR, and leave no chart folder behind."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.bootstrap_console import ConsoleSession
from bot.console.input_lines import parse_console_line
from bot.console.render import render_text
from bot.console.session import ConsoleError, SessionOptions

DAY2_MORNING = datetime(2026, 11, 3, 8, 50, tzinfo=ZoneInfo("America/Chicago"))
OWN_STANDUP = "*Our own standup: {{ report.title | mrkdwn }}*\n{{ m.plan(report.today) | trim }}\n"


async def test_ion_templates_dir_is_used_by_the_console_for_standup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "standup.md.j2").write_text('{% import "_macros.md.j2" as m %}' + OWN_STANDUP, encoding="utf-8")
    monkeypatch.setenv("ION_TEMPLATES_DIR", str(tmp_path))
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING)) as session:
        for line in ("/ion start week17 2026-11-02", "/ion standup"):
            await session.send(parse_console_line(line))
        posted = [render_text(c) for c in session.api.calls("chat.postMessage")]
    assert any(text.startswith("Our own standup: Week 17 Day 2 Standup") for text in posted), posted


async def test_a_broken_team_template_stops_the_console_with_the_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "standup.md.j2").write_text("{% if %}\n", encoding="utf-8")
    monkeypatch.setenv("ION_TEMPLATES_DIR", str(tmp_path))
    with pytest.raises(ConsoleError) as refused:
        async with ConsoleSession(SessionOptions(start=DAY2_MORNING)):
            pass
    assert "the report templates do not render" in str(refused.value) and "standup.md.j2:1" in str(refused.value)


async def test_a_console_session_leaves_no_ionbot_charts_folder_behind() -> None:
    async with ConsoleSession(SessionOptions(start=DAY2_MORNING)) as session:
        for line in ("/ion start week17 2026-11-02", "/ion report 1"):
            await session.send(parse_console_line(line))
        charts = session.files_dir
        assert charts.name.startswith("ionbot-charts-") and any(charts.glob("*.png"))
    assert not charts.exists()
