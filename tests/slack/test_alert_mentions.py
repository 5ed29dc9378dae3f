"""Who an alert card pings: the configured on-call group, else the sre_oncall members of the role map."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.bootstrap import Bot, build, outbox_for, slack_deps
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.engine.ports import Actor, AlertRecord
from bot.engine.records import Run
from bot.slack.blocks.render import Renderer

RUNBOOK = Path(__file__).parents[1] / "slack_app" / "runbook.yaml"
START = datetime(2025, 10, 27, 15, 0, tzinfo=UTC)
LEAD = Actor("U0LEE", "lee", frozenset({"lead"}))


@pytest.fixture
async def bots(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    made: list[Bot] = []

    async def make(**overrides: Any) -> Bot:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/ion-{len(made)}.db",
            runbook=RUNBOOK,
            cloud="sim",
            **overrides,
        )
        bot = await build(settings, clock=VirtualClock(START))
        made.append(bot)
        return bot

    yield make
    for bot in made:
        await bot.close()


async def an_alert(bot: Bot) -> tuple[AlertRecord, Run]:
    run = await bot.rollout.start_run("C0ROLLOUT", START.date(), LEAD)
    return await bot.watcher.declare_incident(run.id, "C0ROLLOUT", "checkout is down", LEAD), run


async def test_without_an_on_call_group_the_alert_mentions_the_sre_oncall_users(bots: Callable[..., Any]) -> None:
    roles = {"lead": ["U0LEE"], "sre_oncall": ["U0SAM", "U0KIM"], "manager": ["U0MARIA"]}
    bot = await bots(roles=roles)
    alert, run = await an_alert(bot)
    message = await Renderer(slack_deps(bot, outbox_for(bot, AsyncWebClient(token="xoxb-test")))).alert(alert, run)
    assert message.text.endswith("<@U0KIM> <@U0SAM>")
    sections = [b["text"]["text"] for b in message.blocks if b.get("type") == "section"]
    assert "<@U0KIM> <@U0SAM> please look at this now." in sections
    assert "<@U0LEE>" not in str(message.blocks) and "<@U0MARIA>" not in str(message.blocks)


async def test_a_configured_on_call_group_is_mentioned_instead_of_the_users(bots: Callable[..., Any]) -> None:
    bot = await bots(roles={"lead": ["U0LEE"], "sre_oncall": ["U0SAM"]}, oncall_group="S0ONCALL")
    alert, run = await an_alert(bot)
    message = await Renderer(slack_deps(bot, outbox_for(bot, AsyncWebClient(token="xoxb-test")))).alert(alert, run)
    assert "<!subteam^S0ONCALL>" in message.text and "<@U0SAM>" not in message.text
