"""`/ion backtest` through the real Bolt endpoint and the real web client against the fake Slack:
the report and charts uploaded with files_upload_v2, the summary posted, the result kept for the gate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from slack_sdk.http_retry import builtin_async_handlers

from bot.backtest.output import latest_summary
from bot.sim.slack_api import FakeSlackApi
from tests.slack_app.conftest import RUNBOOK, NoJitter, Slack, slack_harness
from tests.slack_app.conftest import api as api  # the fake Slack Web API fixture

TRIGGER = """
triggers:
  - id: error_rate
    title: Error rate over 1%
    condition: error_rate_pct > 1 for 5m
"""


@pytest.fixture
async def slack(tmp_path: Path, api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Slack]:
    monkeypatch.setattr(builtin_async_handlers, "random", NoJitter)
    runbook = tmp_path / "runbook.yaml"
    runbook.write_text(RUNBOOK.read_text(encoding="utf-8") + TRIGGER, encoding="utf-8")
    async for harness in slack_harness(tmp_path, api, True, runbook=runbook):
        yield harness


async def test_the_report_is_uploaded_and_the_summary_posted_once_per_delivery(slack: Slack) -> None:
    status, _ = await slack.command("backtest 1")
    await slack.command("backtest 1", retry=1)  # Slack's redelivery: answered again, not worked again
    assert status == 200

    [completed] = slack.api.calls("files.completeUploadExternal")
    titles = [f.get("title") for f in completed["files"]]
    assert titles == ["Backtest of slacktest", "error_rate_pct"]
    report = next(iter(slack.api.uploads.values())).decode("utf-8")
    assert report.startswith("# Backtest: slacktest, production")
    assert "`error_rate_pct > 1 for 5m`" in report
    [summary] = [m for m in slack.posted() if str(m.get("text", "")).startswith("Backtest of slacktest")]
    assert "1 weeks of history: 1 conditions, 0 red, 0 amber, 1 green." in summary["text"]
    assert "No red line." in summary["text"] and "(2 files above)" in summary["text"]
    stored = await latest_summary(slack.bot.store, "slacktest")
    assert stored is not None and stored["red"] == [] and stored["weeks"] == 1.0
    assert stored["link"] == completed["files"][0]["id"]  # the fake Slack gives no permalink: the file's id
    assert any("Backtesting runbook slacktest on the last 1 weeks" in t for t in slack.ephemerals("U0LEE"))


async def test_a_bad_number_of_weeks_is_a_sentence_and_nothing_runs(slack: Slack) -> None:
    await slack.command("backtest 40")
    assert any("'40' is not a number of weeks; give one from 1 to 13" in t for t in slack.ephemerals("U0LEE"))
    assert not slack.api.calls("files.completeUploadExternal")
