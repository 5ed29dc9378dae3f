"""The outbox under rate limits and outages; alerts, App Home and readiness."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.engine.ports import Actor
from bot.slack.blocks.kit import Message, section
from bot.slack.delivery.cards import UNUSED_PART
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


async def test_a_failed_card_update_is_not_replayed_over_a_newer_one(slack: Slack) -> None:
    await started(slack)
    await slack.command("step day1.1")
    ts = slack.card_ts("Step day1.1")
    slack.api.fail("chat.update", times=3, status=503)  # the first re-draw fails past the retries
    await slack.command("tick day1.1 dashboards")
    await slack.state.settle()
    assert "(0/2 ticked)" in str(slack.api.messages[(CHANNEL, ts)]["blocks"])
    await slack.command("tick day1.1 oncall")
    await slack.state.settle()
    assert "(2/2 ticked)" in str(slack.api.messages[(CHANNEL, ts)]["blocks"])

    assert await slack.state.outbox.deliver_pending() == 0  # the newer re-draw replaced the failed one
    assert "(2/2 ticked)" in str(slack.api.messages[(CHANNEL, ts)]["blocks"])


def long_card(title: str, lines: int) -> Message:
    return Message(f"Card {title}", [section(f"{title} line {n}") for n in range(lines)])


def texts_at(slack: Slack, channel: str, ts: str) -> str:
    return str(slack.api.messages[(channel, ts)]["blocks"])


async def test_updating_a_long_card_redraws_every_part_and_retires_the_parts_it_no_longer_needs(
    slack: Slack,
) -> None:
    poster = slack.state.poster
    track = "slack.card.test.run-1.long"
    await poster.post(CHANNEL, long_card("v1", 80), track=track)  # two parts
    where = await poster.where(track)
    assert where is not None
    parts = [ts for (channel, ts), m in slack.api.messages.items() if "v1 line" in str(m.get("blocks"))]
    assert len(parts) == 2 and parts[0] == where[1]

    await poster.update(*where, long_card("v2", 130))  # three parts: the third goes in the card's thread
    assert "v2 line 0'" in texts_at(slack, *where) and "v2 line 50'" in texts_at(slack, CHANNEL, parts[1])
    third = [ts for (_, ts), m in slack.api.messages.items() if m.get("thread_ts") == where[1]]
    assert len(third) == 1 and "v2 line 129'" in texts_at(slack, CHANNEL, third[0])

    await poster.update(*where, long_card("v3", 10))  # one part: the other two say so
    assert "v3 line 9'" in texts_at(slack, *where)
    assert all(UNUSED_PART in texts_at(slack, CHANNEL, ts) for ts in (parts[1], third[0]))

    posts = len(slack.posted())
    await poster.update(*where, long_card("v4", 60))  # two parts again: the retired second comes back
    assert len(slack.posted()) == posts
    assert "v4 line 59'" in texts_at(slack, CHANNEL, parts[1])
    assert UNUSED_PART in texts_at(slack, CHANNEL, third[0])

    await poster.update(CHANNEL, parts[1], long_card("v5", 60))  # asked at the second part (a button there)
    assert "v5 line 0'" in texts_at(slack, *where) and "v5 line 59'" in texts_at(slack, CHANNEL, parts[1])
    assert len(slack.posted()) == posts
    assert await slack.state.outbox.deliver_pending() == 0
