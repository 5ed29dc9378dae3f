"""The on-demand side: `/ion cost`, `/ion report DAY`, `/ion metrics`, `/ion scaling`, and what a
rolled-back production step does to the report and the cost ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.actions.scaling_schedule import settings_key
from bot.engine.errors import Refused
from bot.engine.records import StepState
from tests.runtime.harness import (
    CHANNEL,
    MONDAY,
    Team,
    chicago,
    finish,
    lee,
    sam,
    start_lane,
    team_at,
    tick_all,
    utc,
)


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    async with team_at(tmp_path / "ion.db", 9, timedelta(minutes=30)) as team:
        yield team


class TestCost:
    async def test_recorded_bills_show_in_the_next_report(self, team: Team) -> None:
        said = await team.runtime.reports.record_cost(CHANNEL, "cloud-run", Decimal("1100.00"), lee)
        assert said.startswith("Recorded Cloud Run at $1,100/month (by lee)")
        await team.runtime.reports.record_cost(CHANNEL, "cloud_sql", Decimal("780"), lee)
        await team.runtime.reports.record_cost(CHANNEL, "Cache", "$290", sam)
        await team.runtime.run_due(utc(chicago(MONDAY, 17, 30)))
        [report] = team.poster.keyed("daily_report:")
        realised = next(line for line in report.text.splitlines() if line.startswith("- Cost realised:"))
        assert realised.startswith("- Cost realised: -$130/month from recorded bills (Cloud Run $1,200 → $1,100 on")
        expected = next(line for line in report.text.splitlines() if line.startswith("- Cost expected:"))
        assert expected.startswith("- Cost expected: $0/month from the changes in force, of the -$400/month target")
        assert "(16% as the runbook states; 17.4% of $2,300)" in expected

    async def test_an_unknown_service_is_refused_with_a_suggestion_and_nothing_recorded(self, team: Team) -> None:
        with pytest.raises(Refused, match=r"did you mean cloud-run or cloud-sql\?.*No cost was recorded"):
            await team.runtime.reports.record_cost(CHANNEL, "clod-run", Decimal("900"), lee)
        assert await team.bot.store.get_value(f"cost:bills:{team.run.id}") is None

    @pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-5"), "lots"])
    async def test_an_amount_that_is_not_above_zero_is_refused(self, team: Team, amount: object) -> None:
        with pytest.raises(Refused, match=r"above zero.*No cost was recorded"):
            await team.runtime.reports.record_cost(CHANNEL, "cache", amount, lee)


class TestRolledBackProductionStep:
    async def test_the_report_lists_it_under_issues_and_takes_its_saving_back(self, team: Team) -> None:
        bot, clock, reports = team.bot, team.clock, team.runtime.reports
        _, staging = await start_lane(bot, "day2.1", "staging")
        assert (await finish(clock, staging)).ok
        await tick_all(bot, "day2.1", sam)  # staging's "Monitor results" lets production run
        runner, production = await start_lane(bot, "day2.1", "production")
        assert (await finish(clock, production)).ok
        await tick_all(bot, "day2.1", sam)
        await reports.daily_report(CHANNEL, 1, lee)
        before = team.poster.posts[-1].text
        assert f"day2.1 Reduce Minimum Instances (US Region) (production, by {runner.name}" in before
        assert "- Cost expected: -$100/month from the changes in force (day2.1 -$100)" in before
        assert "- Cost realised: no bill yet" in before

        await bot.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        lane = await bot.store.get_lane(team.run.id, "day2.1", "production")
        assert lane is not None and lane.state is StepState.ROLLED_BACK
        await clock.advance(timedelta(seconds=1))  # on-demand reports are keyed by the time asked
        await reports.daily_report(CHANNEL, 1, lee)
        after = team.poster.posts[-1].text
        issues = after.split("*Issues/Blockers:*")[1]
        assert "day2.1 Reduce Minimum Instances (US Region) was rolled back in production" in issues
        assert "- Cost expected: $0/month from the changes in force, of" in after
        assert "(production, by" not in after.split("*Completed:*")[1].split("*Metrics")[0]


class TestOnDemand:
    async def test_report_of_a_day_outside_the_run_is_refused(self, team: Team) -> None:
        with pytest.raises(Refused, match="days 1 to 10, so there is no Day 11 report"):
            await team.runtime.reports.daily_report(CHANNEL, 11, lee)
        assert team.poster.posts == []

    async def test_metrics_answer_with_blocks_against_baseline_and_target(self, team: Team) -> None:
        message = await team.runtime.reports.metrics(CHANNEL, lee)
        assert message["blocks"][0]["type"] == "header"
        body = message["blocks"][1]["text"]["text"]
        assert "*Response Time P95*" in body and "(baseline 36.4ms, target 35ms)" in body
        assert "Combined Hit Rate" in message["text"]

    async def test_scaling_says_when_no_rules_are_active(self, team: Team) -> None:
        said = await team.runtime.reports.scaling(CHANNEL, lee)
        assert said.startswith("No time-of-day scaling rules are active")

    async def test_scaling_shows_the_stored_rules_and_the_one_in_force_now(self, team: Team) -> None:
        await team.bot.store.put_value(settings_key("production", "ion-mentoring-api"), RULES)
        said = await team.runtime.reports.scaling(CHANNEL, lee)
        assert "*ion-mentoring-api* (production: us-central1)" in said
        assert "In force now (09:00 America/Chicago): Business hours, min 3 / max 50." in said

    async def test_scaling_changes_are_summed_up_once_in_the_daily_report_not_posted_hourly(self, team: Team) -> None:
        await team.bot.store.put_value(settings_key("production", "ion-mentoring-api"), RULES)
        await team.runtime.start()
        await team.runtime.run_due(utc(chicago(MONDAY, 19)))
        await team.runtime.stop()
        assert team.poster.keyed("scaling:") == []
        [report] = team.poster.keyed("daily_report:")
        scaling = report.text.split("*Scaling rules today:*")[1].split("*Issues/Blockers:*")[0]
        assert "- Mon 10:00: ion-mentoring-api us-central1 (production): maxInstances 100 -&gt; 50" in scaling
        assert "Mon 18:00" not in scaling  # the 18:00 change comes after the 17:00 report: in tomorrow's

    async def test_the_hourly_option_brings_a_post_per_change_back(self, team: Team) -> None:
        schedule = team.bot.runbook.schedule.model_copy(update={"scaling_posts": "hourly"})
        team.bot.runbook = team.bot.runbook.model_copy(update={"schedule": schedule})
        await team.bot.store.put_value(settings_key("production", "ion-mentoring-api"), RULES)
        await team.runtime.start()
        await team.runtime.run_due(utc(chicago(MONDAY, 19)))
        posts = team.poster.keyed("scaling:")
        assert [p.at for p in posts] == [utc(chicago(MONDAY, 10)), utc(chicago(MONDAY, 18))]
        assert "ion-mentoring-api us-central1 (production): maxInstances 100 -> 50" in posts[0].text
        assert "(Business hours)" in posts[0].text and "(Other)" in posts[1].text
        await team.runtime.stop()


RULES = {
    "environment": "production",
    "project": "ion-mentoring",
    "service": "ion-mentoring-api",
    "regions": ["us-central1"],
    "timezone": "America/Chicago",
    "rules": [{"name": "Business hours", "start": "09:00", "end": "18:00", "min_instances": 3, "max_instances": 50}],
    "otherwise": {"name": "Other", "start": "00:00", "end": "00:00", "min_instances": 1, "max_instances": 20},
}
