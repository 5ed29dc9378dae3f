"""Week 17 through the whole bot: day1.3's own "Database CPU > 70%" breaches after day2.1 has become
the latest production step; the alert names day1.3, and its Roll back rolls back day1.3, not day2.1."""

from __future__ import annotations

from pathlib import Path

from bot.bootstrap import build
from bot.engine.clock import VirtualClock
from bot.engine.records import StepState
from bot.slack.blocks import ActionValue
from bot.slack.blocks.alert_card import alert_card
from bot.slack.blocks.from_views import alert_card_view
from tests.e2e.databases import sqlite_url
from tests.e2e.scenario import (
    CHANNEL,
    RUN_START,
    T0,
    lee,
    listen,
    run_lane,
    sam,
    settings_for,
    start_and_pass_preflight,
)

CPU = "rollback_if:day1.3:2"  # day1.3's third condition: db_cpu_pct > 70 for 10m


async def test_a_step_condition_alert_rolls_back_that_step_and_then_stops_watching_it(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    settings = settings_for(sqlite_url(tmp_path / "ion.db"))
    bot = await build(settings, clock=clock, faults=["db_cpu_pct 85 after day2.1 for 40m"], run_start=RUN_START)
    try:
        heard = listen(bot)
        run = await start_and_pass_preflight(bot)
        for step_id, env in [
            ("day1.1", "production"),
            ("day1.2", "staging"),
            ("day1.2", "production"),
            ("day1.3", "production"),
            ("day2.1", "staging"),
            ("day2.1", "production"),
        ]:
            step = bot.runbook.step(step_id)
            assert step is not None
            if env == "production":
                for item in step.checklist:
                    await bot.rollout.tick(CHANNEL, step_id, item.id, lee)
            result = await run_lane(bot, clock, step_id, env, bot.watch_once)
            assert result.ok and result.lane.state is StepState.DONE, (step_id, env, result.message)
        assert await bot.latest_production_step(run.id) == "day2.1"
        assert heard.of("alert_opened") == []  # a healthy Day 1 and the morning of Day 2 raised nothing

        for _ in range(15):
            await clock.advance(bot.runbook.schedule.watch_interval)
            await bot.watch_once()
        [opened] = heard.of("alert_opened")
        assert opened.data["trigger_id"] == CPU and opened.step_id == "day1.3"
        assert "db_cpu_pct is 85 against a threshold of 70 for 10m" in opened.text
        alert = await bot.store.get_alert(str(opened.data["alert_id"]))
        assert alert is not None and alert.auto_rollback_at is None

        card = alert_card(alert_card_view(alert, run, bot.runbook, dry_run=False, oncall_group=None))
        [actions] = [b for b in card.blocks if b["type"] == "actions"]
        [roll_back] = [e for e in actions["elements"] if e["text"]["text"] == "Roll back"]
        value = ActionValue.decode(roll_back["value"])
        assert value is not None
        # What the Roll back button asks the engine for (bot/slack/listeners/buttons.py, _rollback).
        target = f"{value.step}@{value.env}"
        preview = await bot.rollout.rollback_preview(CHANNEL, target, sam)
        assert preview.step_id == "day1.3" and preview.targets
        undone = await bot.rollout.confirm_rollback(CHANNEL, target, sam)
        assert undone.ok, undone.message

        lanes = {(lane.step_id, lane.environment): lane.state for lane in await bot.store.lanes(run.id)}
        assert lanes[("day1.3", "production")] is StepState.ROLLED_BACK
        assert lanes[("day2.1", "production")] is StepState.DONE
        for _ in range(60):  # the fault lasts 40 minutes; then the cool-down
            await clock.advance(bot.runbook.schedule.watch_interval)
            await bot.watch_once()
        assert [e.data["trigger_id"] for e in heard.of("alert_opened")] == [CPU]  # nothing reopened
        closed = await bot.store.get_alert(alert.id)
        assert closed is not None and closed.state == "resolved"
    finally:
        await bot.close()
