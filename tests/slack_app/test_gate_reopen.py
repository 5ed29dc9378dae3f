"""`/ion reopen GATE REASON` through the real endpoint (a lead reopens a NO; others are refused
privately), and command refusals before the engine is reached (no run, no step) are audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from slack_sdk.http_retry import builtin_async_handlers

from bot.sim.slack_api import FakeSlackApi
from bot.slack.blocks.from_views import gate_version
from tests.slack_app import conftest
from tests.slack_app.conftest import CHANNEL, NoJitter, Slack, started

GATE = {"id": "gonogo.day2", "title": "Go/No-Go day 2", "day": 2, "at": "09:00", "unlocks_day": 2}


@pytest.fixture
async def slack(tmp_path: Path, api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Slack]:
    """The usual Slack harness on the test runbook with a day-2 Go/No-Go added."""
    runbook = yaml.safe_load(conftest.RUNBOOK.read_text())
    runbook["gates"] = [GATE]
    path = tmp_path / "runbook.yaml"
    path.write_text(yaml.safe_dump(runbook))
    monkeypatch.setattr(conftest, "RUNBOOK", path)
    monkeypatch.setattr(builtin_async_handlers, "random", NoJitter)
    async for harness in conftest.slack_harness(tmp_path, api, True):
        yield harness


async def test_a_lead_reopens_a_no_and_a_member_is_refused_privately_and_audited(slack: Slack) -> None:
    await started(slack)
    maria = slack.bot.rollout.policy.actor("U0MARIA", "maria")
    await slack.bot.rollout.gate_decide(CHANNEL, "gonogo.day2", False, "error budget burnt", maria)

    await slack.command("reopen day2 looks fine to me", user="U0DANA")
    assert any("dana may not decide a Go/No-Go" in text for text in slack.ephemerals("U0DANA"))

    status, _ = await slack.command("reopen day2 error budget recovered", user="U0LEE")
    assert status == 200
    await slack.state.settle()
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    gate = await slack.bot.store.get_gate(run.id, "gonogo.day2")
    assert gate is not None and gate.decision is None
    assert any("reopened by lee (error budget recovered)" in str(p.get("text")) for p in slack.posted())

    await slack.command("reopen day2 again", user="U0LEE")
    assert any("nothing to reopen" in text for text in slack.ephemerals("U0LEE"))
    audit = [(e.actor_id, e.what, e.outcome) for e in await slack.bot.store.audit(run.id)]
    assert ("U0DANA", "gate reopen", "refused") in audit
    assert ("U0LEE", "gate reopened", "ok") in audit
    assert ("U0LEE", "gate reopen", "refused") in audit


async def test_a_command_on_an_unknown_step_or_with_no_run_is_refused_and_audited(slack: Slack) -> None:
    await slack.command("run day1.1 staging", user="U0SAM")
    await started(slack)
    await slack.command("approve day7.7", user="U0LEE")

    assert any("There is no run in this channel" in text for text in slack.ephemerals("U0SAM"))
    assert any("no step day7.7" in text for text in slack.ephemerals("U0LEE"))
    audit = [(e.actor_id, e.what, e.step_id, e.outcome, e.run_id is None) for e in await slack.bot.store.audit()]
    assert ("U0SAM", "request run", "day1.1", "refused", True) in audit
    assert ("U0LEE", "approve", "day7.7", "refused", False) in audit


async def test_a_card_of_the_first_no_is_stale_once_the_gate_was_reopened_and_decided_no_again(slack: Slack) -> None:
    await started(slack)
    maria = slack.bot.rollout.policy.actor("U0MARIA", "maria")
    await slack.bot.rollout.gate_decide(CHANNEL, "gonogo.day2", False, "error budget burnt", maria)
    first = gate_version(await slack.bot.rollout.gate_view(CHANNEL, "gonogo.day2"))
    await slack.command("reopen day2 error budget recovered", user="U0LEE")
    await slack.state.settle()
    await slack.bot.rollout.gate_decide(CHANNEL, "gonogo.day2", False, "burnt again", maria)
    again = gate_version(await slack.bot.rollout.gate_view(CHANNEL, "gonogo.day2"))
    assert again != first  # the same decision, but not the same card
