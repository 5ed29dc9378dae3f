"""The HTTP endpoint as Slack sees it: signatures, quick acks, probes."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlencode

from tests.slack_app.conftest import CHANNEL, Slack, signed, started


async def test_a_bad_signature_gets_401_and_nothing_is_done(slack: Slack) -> None:
    body = urlencode({"command": "/ion", "text": "start slacktest", "user_id": "U0LEE", "channel_id": CHANNEL})
    headers = signed(body, secret="not-the-secret")
    async with slack.http.post(
        slack.url + "/slack/events",
        data=body,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 401
    assert await slack.bot.store.open_run(CHANNEL) is None
    assert slack.api.recorded == []


async def test_an_old_timestamp_gets_401_and_nothing_is_done(slack: Slack) -> None:
    body = urlencode({"command": "/ion", "text": "start slacktest", "user_id": "U0LEE", "channel_id": CHANNEL})
    headers = signed(body, timestamp=int(time.time()) - 6 * 60)
    async with slack.http.post(
        slack.url + "/slack/events",
        data=body,
        headers={**headers, "Content-Type": "application/x-www-form-urlencoded"},
    ) as response:
        assert response.status == 401
    assert await slack.bot.store.open_run(CHANNEL) is None


async def test_a_slash_command_is_acked_at_once_and_its_work_lands_in_slack(slack_acking: Slack) -> None:
    slack = slack_acking
    status, body = await slack.command("start slacktest")
    assert status == 200 and body == ""
    for _ in range(3000):  # the work goes on after the ack; wait for it, not for a time
        if any("started" in text for text in slack.ephemerals("U0LEE")):
            break
        await asyncio.sleep(0.01)
    assert await slack.bot.store.open_run(CHANNEL) is not None
    assert any("Slack app test rollout started by lee" in str(p.get("text")) for p in slack.posted())


async def test_a_parse_error_is_answered_privately_with_the_usage(slack: Slack) -> None:
    await slack.command("step 2.x")
    [reply] = slack.ephemerals("U0LEE")
    assert "not a step id" in reply and "/ion step ID" in reply and "Nothing was changed" in reply
    assert slack.posted() == []


async def test_the_status_card_is_posted_in_the_channel(slack: Slack) -> None:
    await started(slack)
    await slack.command("status")
    assert any(str(p.get("text", "")).startswith("Status: Slack app test rollout") for p in slack.posted())


async def test_reports_answer_that_they_are_not_configured(slack: Slack) -> None:
    await started(slack)
    await slack.command("report")
    assert any("Reports are not configured" in text for text in slack.ephemerals("U0LEE"))


async def test_health_is_up_and_readiness_follows_the_hook(slack: Slack) -> None:
    async with slack.http.get(slack.url + "/healthz") as response:
        assert response.status == 200
    async with slack.http.get(slack.url + "/readyz") as response:
        assert response.status == 200
