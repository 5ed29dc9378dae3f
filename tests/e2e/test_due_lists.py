"""Issue 15, "checklists tick before the thing they check": day2.1's lists belong to a lane and a
moment. Staging's "Monitor results" lets production run; production's "Verification (30 minutes
post-deployment)" cannot be ticked before the production change landed and 30 minutes passed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.bootstrap import Bot, build
from bot.engine import checklist
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.records import StepState
from bot.slack.blocks.from_views import step_card_view
from bot.slack.blocks.step_card import step_card
from tests.e2e.databases import Databases
from tests.e2e.scenario import (
    CHANNEL,
    RUN_START,
    T0,
    approve_lane,
    finish,
    lee,
    settings_for,
    start_and_pass_preflight,
)

STEP = "day2.1"


@pytest.fixture
async def bot(databases: Databases) -> AsyncIterator[tuple[Bot, VirtualClock]]:
    clock = VirtualClock(T0)
    made = await build(settings_for(databases.new()), clock=clock, run_start=RUN_START)
    try:
        await start_and_pass_preflight(made)
        yield made, clock
    finally:
        await made.close()


async def card_text(bot: Bot) -> str:
    view = await bot.rollout.step_view(CHANNEL, STEP)
    return json.dumps(step_card(step_card_view(view, [], bot.runbook, False)).blocks, ensure_ascii=False)


async def tick(bot: Bot, item: str) -> str:
    with pytest.raises(Refused) as refused:
        await bot.rollout.tick(CHANNEL, STEP, item, lee)
    return refused.value.message


async def run(bot: Bot, clock: VirtualClock, env: str) -> StepState:
    fingerprint, runner = await approve_lane(bot, STEP, env)
    started = await bot.rollout.start_execution(CHANNEL, STEP, env, runner, fingerprint)
    return (await finish(clock, started.task)).lane.state


async def test_the_post_deployment_list_cannot_be_ticked_before_production_landed_and_30_minutes_passed(
    bot: tuple[Bot, VirtualClock],
) -> None:
    made, clock = bot
    said = await tick(made, "staging-p95")
    assert "is not due until the staging change has landed; day2.1 has not changed staging yet" in said
    assert "not due yet" in await card_text(made)

    assert await run(made, clock, "staging") is StepState.VERIFYING  # verified, waiting for its own list
    refused = await tick(made, "instances-healthy")
    assert "not due until 30 min after the production change landed" in refused
    assert "has not changed production yet (it is pending)" in refused
    said = await production_refusal(made)
    assert "its staging checklist 'Monitor results (staging load test)' is not complete" in said
    assert "missing 1 staging-p95, 2 staging-errors, 3 staging-cpu" in said and "/ion tick day2.1 1" in said

    for number in ("1", "2", "3"):  # the numbers the card shows
        await made.rollout.tick(CHANNEL, STEP, number, lee)
    staging = await made.store.get_lane((await made.rollout.require_run(CHANNEL)).id, STEP, "staging")
    assert staging is not None and staging.state is StepState.DONE

    fingerprint, runner = await approve_lane(made, STEP, "production")
    started = await made.rollout.start_execution(CHANNEL, STEP, "production", runner, fingerprint)
    run_now = await made.rollout.require_run(CHANNEL)
    step = made.runbook.step(STEP)
    assert step is not None
    asked_at = clock.now()
    for _ in range(600):  # until the change has landed (the database answers in real time)
        if await checklist.landed_at(made.rollout._ctx, run_now, step, "production") is not None:
            break
        if clock.sleepers:
            await clock.advance(timedelta(minutes=1))
        else:
            await asyncio.wait({started.task}, timeout=0.05)
    assert clock.now() - asked_at < timedelta(minutes=10)  # well inside the 30 minutes
    early = await tick(made, "instances-healthy")
    assert early.startswith("'All instances healthy' (day2.1, Verification (30 minutes post-deployment))")
    assert "is not due until 30 min after the production change landed at" in early
    assert "tick it from" in early and early.endswith("Nothing was ticked.")
    assert "not due until" in await card_text(made)

    result = await finish(clock, started.task)
    assert result.lane.state is StepState.VERIFYING  # the 30-minute window passed: the list is due now
    for number in ("4", "5", "6", "7"):
        await made.rollout.tick(CHANNEL, STEP, number, lee)
    lane = await made.store.get_lane(result.lane.run_id, STEP, "production")
    assert lane is not None and lane.state is StepState.DONE
    ticks = {t.item_id: t.at for t in await made.store.ticks(result.lane.run_id, STEP)}
    landed = min(r.at for r in result.applied)
    assert all(ticks[i] >= landed + timedelta(minutes=30) for i in ("instances-healthy", "autoscaling-working"))


async def production_refusal(bot: Bot) -> str:
    with pytest.raises(Refused) as refused:
        await bot.rollout.request_run(CHANNEL, STEP, "production", lee)
    return refused.value.message
