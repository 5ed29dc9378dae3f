"""The outbox under rate limits and outages; alerts, App Home and readiness."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.engine.ports import Actor
from bot.slack.server import database_and_loops_ready, make_web_app, start_site
from tests.slack_app.conftest import CHANNEL, Slack, make_bot, started


async def test_a_429_with_retry_after_is_retried_and_delivered_once(slack: Slack) -> None:
    await started(slack)
    slack.api.rate_limit("chat.postMessage", times=1, retry_after=0)
    await slack.command("status")
    status_posts = [p for p in slack.posted() if str(p.get("text", "")).startswith("Status:")]
    assert len(status_posts) == 1
    assert slack.api.call_count("chat.postMessage") == len(slack.posted()) + 1
    assert await slack.bot.store.pending() == []


async def test_an_outage_keeps_the_message_and_a_later_pass_posts_it_once(slack: Slack) -> None:
    await started(slack)
    slack.api.fail("chat.postMessage", times=3, status=503)  # more than the retry handler's two retries
    await slack.command("status")
    assert not any(str(p.get("text", "")).startswith("Status:") for p in slack.posted())
    [waiting] = await slack.bot.store.pending()
    assert "internal_error" in str(waiting.last_error)
    assert await slack.state.outbox.deliver_pending() == 1
    assert await slack.state.outbox.deliver_pending() == 0
    assert len([p for p in slack.posted() if str(p.get("text", "")).startswith("Status:")]) == 1


async def test_an_alert_mentions_on_call_and_offers_its_buttons(slack: Slack) -> None:
    await started(slack)
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    actor = Actor("U0LEE", "lee", frozenset({"lead"}))
    await slack.bot.watcher.declare_incident(run.id, CHANNEL, "checkout <!channel> is down", actor)
    card = next(p for p in slack.posted() if "Incident" in str(p.get("text")))
    assert "<!subteam^S0ONCALL>" in str(card["text"])
    ids = {e.get("action_id") for b in card["blocks"] for e in b.get("elements") or []}
    assert {"ion:ack", "ion:hold"} <= ids
    assert "<!channel>" not in str(card["blocks"]) and "<!channel>" not in str(card["text"])
    ts = slack.card_ts("Incident")
    await slack.click(ts, "ion:ack", user="U0SAM")
    [alert] = await slack.bot.store.active_alerts(run.id)
    assert alert.state == "acknowledged" and alert.acknowledged_by == "U0SAM"


async def test_app_home_shows_the_most_recent_run(slack: Slack) -> None:
    await started(slack)
    await slack.post(
        '{"type":"event_callback","team_id":"T0ION","event":{"type":"app_home_opened","user":"U0LEE","tab":"home"}}',
        content_type="application/json",
    )
    for _ in range(3000):
        if slack.api.calls("views.publish"):
            break
        await asyncio.sleep(0.01)
    published = slack.api.last("views.publish")
    assert published is not None and published["user_id"] == "U0LEE"
    text = str(published["view"])
    assert "Active run" in text and "Error rate" in text


async def test_dry_run_marks_every_message(slack_dry: Slack) -> None:
    slack = slack_dry
    await started(slack)
    await slack.command("step day1.1")
    await slack.command("status")
    assert slack.posted()
    assert all("DRY RUN" in str(p.get("text")) for p in slack.posted())
    assert all("DRY RUN" in str(p.get("blocks")) for p in slack.posted())


async def test_readiness_needs_the_database_and_running_loops(tmp_path: Path) -> None:
    bot = await make_bot(tmp_path)
    loop = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(loop)
    runner, port = await start_site(make_web_app(None, database_and_loops_ready(bot, [task])), "127.0.0.1", 0)
    try:
        import aiohttp

        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                assert response.status == 200
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                assert response.status == 503
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
    finally:
        await runner.cleanup()
        await bot.close()


async def test_a_reason_people_type_cannot_mention_or_link_from_any_public_message(slack: Slack) -> None:
    await started(slack)
    await slack.command("reject day1.1 <!channel> see <https://evil.example|here> <@U0SAM>")
    public = [p for p in slack.posted() if "reject" in str(p).lower()]
    assert public, slack.ephemerals()
    for message in slack.posted():
        for field in (str(message.get("text", "")), str(message.get("blocks", ""))):
            assert "<!channel>" not in field and "<https://evil" not in field and "<@U0SAM>" not in field
