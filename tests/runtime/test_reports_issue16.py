"""Issue 16: reports a manager signs as they are. The day's own objective and conditions, money as it
really moved, the rollback's reason and the steps it blocks, quality facts recorded by people,
standups that agree, the final report after the decision, DRY RUN marks, and the 5 PM email."""

from __future__ import annotations

import asyncio
import mailbox
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.bootstrap import Bot, build
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.ports import AlertRecord
from bot.runtime import Runtime
from tests.cloud.bigquery_facade import BillingTable, ExportRow, bigquery_facade
from tests.reports.smtp_server import Inbox, smtp_server
from tests.runtime.harness import (
    CHANNEL,
    MONDAY,
    RUNBOOK,
    RecordingPoster,
    Team,
    chicago,
    done_all,
    finish,
    lee,
    maria,
    sam,
    start_and_pass_preflight,
    start_lane,
    team_at,
    tick_all,
    utc,
)

WATCH_EVERY = timedelta(minutes=30)


@pytest.fixture
async def team(tmp_path: Path) -> AsyncIterator[Team]:
    async with team_at(tmp_path / "ion.db", 9, WATCH_EVERY) as team:
        yield team


def section(text: str, title: str) -> str:
    return text.split(f"*{title}")[1].split("\n\n")[0]


def line_starting(text: str, prefix: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(prefix))


async def bot_with(database: Path, clock: VirtualClock, **settings: Any) -> Bot:
    configured = Settings(database_url=f"sqlite+aiosqlite:///{database}", runbook=RUNBOOK, cloud="sim", **settings)
    return await build(configured, clock=clock, run_start=MONDAY)


async def run_day2_1(team: Team) -> str:
    """day2.1 in staging, then in production (ticked); returns the production runner's name."""
    _, staging = await start_lane(team.bot, "day2.1", "staging")
    assert (await finish(team.clock, staging)).ok
    await tick_all(team.bot, "day2.1", sam)  # staging's "Monitor results" lets production run
    runner, production = await start_lane(team.bot, "day2.1", "production")
    assert (await finish(team.clock, production)).ok
    await tick_all(team.bot, "day2.1", sam)
    return runner.name


async def breach_on_day2_1(team: Team) -> None:
    """The error-rate trigger fires on day2.1 in production, as the watcher records it."""
    now = team.clock.now()
    alert = AlertRecord(
        id=uuid.uuid4().hex,
        run_id=team.run.id,
        trigger_id="error_rate",
        kind="breach",
        state="open",
        opened_at=now,
        message="error_rate_pct at 2.5% (threshold 1) for 5m",
        value=2.5,
        threshold=1.0,
        step_id="day2.1",
        environment="production",
    )
    assert await team.bot.store.open_alert(alert) is not None


async def decide_yes(team: Team, gate_id: str) -> None:
    """Tick the gate, run its health checks (a lead vouches for any the synthetic noise grazes), decide YES."""
    rollout = team.bot.rollout
    gate = team.bot.runbook.gate(gate_id)
    assert gate is not None
    for part in gate.sections:
        for item in part.items:
            await rollout.gate_tick(CHANNEL, gate.id, item.id, lee)
    view = await rollout.gate_check_health(CHANNEL, gate.id, sam)
    for result in view.record.health:
        if result.passed is not True:
            await rollout.gate_override(CHANNEL, gate.id, result.label, "checked by hand on the dashboard", lee)
    await rollout.gate_decide(CHANNEL, gate.id, True, None, lee)


class TestTheDaysOwnWork:
    async def test_the_daily_report_leads_with_the_objective_and_the_days_step_conditions(self, team: Team) -> None:
        await team.runtime.reports.daily_report(CHANNEL, None, lee)
        text = team.poster.posts[-1].text
        head = text.split("*Completed:*")[0]
        assert "*Day 1: Database Query Optimization*" in head
        assert "*Objective:* Reduce query time from 18ms → 15ms" in head
        conditions = section(text, "Today's step metrics")
        assert "day1.4 `db_query_ms &lt; 15`: DB query time (mean)" in conditions  # mrkdwn-escaped
        assert "day1.3 rollback if `db_cpu_pct &gt; 70 for 10m`: Database CPU" in conditions
        assert "(baseline 45%, limit 70%; sustained 10m to 09:00)" in conditions
        metrics = section(text, "Metrics (vs baseline)")
        assert "- Error rate: 0.2% → " in metrics and "(15-min mean to Mon 09:00; no target)" in metrics

    async def test_metrics_without_a_target_show_no_verdict_and_no_no_data_target(self, team: Team) -> None:
        message = await team.runtime.reports.metrics(CHANNEL, lee)
        row = line_starting(message["text"], ":small_blue_diamond: *Error rate*")
        assert row.endswith("(baseline 0.2%, no target)")
        assert "target no data" not in message["text"]


class TestARollback:
    async def test_the_report_names_the_trigger_and_its_value_and_the_steps_it_blocks(self, team: Team) -> None:
        await run_day2_1(team)
        await breach_on_day2_1(team)
        await team.clock.advance(timedelta(minutes=3))
        await team.bot.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        await team.runtime.reports.daily_report(CHANNEL, None, lee)
        daily = team.poster.posts[-1].text
        issues = section(daily, "Issues/Blockers")
        assert "day2.1 Reduce Minimum Instances (US Region) was rolled back in production" in issues
        assert (
            ":no_entry: day2.2 Reduce Minimum Instances (EU Region) is blocked: day2.1 was rolled back in production"
        ) in issues

        await team.runtime.jobs.post_phase_summary(team.run.id, 5, False)
        summary = team.poster.posts[-1].text
        row = line_starting(summary, "- :leftwards_arrow_with_hook: day2.1")
        assert "reached production (rolled back there)" in row
        assert "rolled back (trigger Error rate > 1% for > 5 minutes: 2.5% (threshold 1%), at Mon " in row.replace(
            "&gt;", ">"
        )

    async def test_a_rollback_by_hand_says_who(self, team: Team) -> None:
        await run_day2_1(team)
        await team.bot.rollout.confirm_rollback(CHANNEL, "day2.1", sam)
        await team.runtime.jobs.post_phase_summary(team.run.id, 5, False)
        row = line_starting(team.poster.posts[-1].text, "- :leftwards_arrow_with_hook: day2.1")
        assert "rolled back (rolled back by sam at Mon " in row


class TestMoney:
    async def test_a_bill_recorded_moves_only_the_realised_line(self, team: Team) -> None:
        await run_day2_1(team)
        reports = team.runtime.reports
        await reports.daily_report(CHANNEL, None, lee)
        before = team.poster.posts[-1].text
        await reports.record_cost(CHANNEL, "cloud-run", Decimal("1120"), maria)
        await team.clock.advance(timedelta(seconds=1))
        await reports.daily_report(CHANNEL, None, lee)
        after = team.poster.posts[-1].text
        assert line_starting(before, "- Cost expected:") == line_starting(after, "- Cost expected:")
        assert line_starting(after, "- Cost expected:").startswith(
            "- Cost expected: -$100/month from the changes in force (day2.1 -$100), of the -$400/month target (16%"
        )
        assert line_starting(before, "- Cost realised:").startswith("- Cost realised: no bill yet")
        assert line_starting(after, "- Cost realised:").startswith(
            "- Cost realised: -$80/month from recorded bills (Cloud Run $1,200 → $1,120 on Mon "
        )
        assert line_starting(after, "- Full programme target:") == "- Full programme target: -$615/month by Week 18"


class TestQualityFacts:
    async def test_a_recorded_fact_is_audited_and_shown_with_who_recorded_it(self, team: Team) -> None:
        reports = team.runtime.reports
        said = await reports.record(CHANNEL, "zero-data-loss", "yes", "restore drill clean", maria)
        assert said == "Recorded 'Zero data loss': holds, by maria (restore drill clean). The next report shows it."
        audit = await team.bot.store.audit(team.run.id)
        assert any(e.what == "record quality" and e.actor_name == "maria" for e in audit)
        await team.runtime.jobs.post_phase_summary(team.run.id, 5, False)
        quality = team.poster.posts[-1].text.split("*Quality targets:*\n")[1].split("\n\n")[0]
        assert "- :white_check_mark: Zero data loss: met (recorded by maria on Mon 02 Nov 09:" in quality
        assert ": restore drill clean)" in quality
        assert (
            "- :grey_question: All tests passing: unknown (nobody has recorded it: /ion record all-tests-passing"
            in (quality)
        )

    async def test_a_measured_target_or_an_unknown_one_is_refused_and_nothing_recorded(self, team: Team) -> None:
        with pytest.raises(Refused, match=r"measured by the bot.*Nothing was recorded"):
            await team.runtime.reports.record(CHANNEL, "no-production-incidents", "yes", None, lee)
        with pytest.raises(Refused, match=r"did you mean zero-data-loss.*Nothing was recorded"):
            await team.runtime.reports.record(CHANNEL, "zero-data-los", "yes", None, lee)
        with pytest.raises(Refused, match="not a verdict"):
            await team.runtime.reports.record(CHANNEL, "zero-data-loss", "maybe", None, lee)
        assert await team.bot.store.get_value(f"quality:records:{team.run.id}") is None


class TestTheFinalReport:
    async def test_it_waits_for_the_day_10_decision_and_posts_once_when_it_is_made(self, team: Team) -> None:
        jobs = team.runtime.jobs
        friday = MONDAY + timedelta(days=11)
        await team.clock.advance_to(utc(chicago(friday, 17)))
        await jobs.post_final_report(team.run.id, 10, False)
        [waiting] = team.poster.keyed("final_waiting:")
        assert "waits for *Day 10 decision point: Week 17 Complete*" in waiting.text
        assert team.poster.keyed("final_report:") == []

        await team.clock.advance(timedelta(minutes=20))
        await decide_yes(team, "gonogo.day10")
        await jobs.post_final_report(team.run.id, 10, False)  # a retried job adds nothing
        [final] = team.poster.keyed("final_report:")
        assert final.text.startswith("*Week 17 Final Report*")
        assert "- Day 10 decision point: Week 17 Complete: Proceed to Week 18 (lee)" in section(final.text, "Decision")
        assert "no data" not in final.text.split("*Performance targets")[1].split("```")[1].split("\n", 2)[2]
        assert "*Performance targets (now = 15-min mean to Fri 17:20):*" in final.text
        assert "*Expected Week 17 Results (from the runbook):*\n- Cache hit rate: 82% → 75-78%+" in final.text


class TestStandups:
    async def test_the_three_posts_of_a_day_share_one_snapshot_and_a_later_post_adds_what_changed(
        self, tmp_path: Path
    ) -> None:
        async with team_at(tmp_path / "ion.db", 7, WATCH_EVERY, started=True) as team:
            await team.runtime.run_due(utc(chicago(MONDAY, 9, 5)))
            _, task = await start_lane(team.bot, "day1.1", "production")
            assert (await done_all(team.bot, team.clock, await finish(team.clock, task), lee)).ok  # the slow log
            await team.runtime.run_due(utc(chicago(MONDAY, 11, 5)))
            posts = {p.dedupe_key.split(":")[1]: p.text for p in team.poster.keyed("standup:")}
        assert sorted(posts) == ["Asia", "EU", "US"]
        bodies = {name: text.split("\n", 1)[1].split("\n*Since the snapshot")[0] for name, text in posts.items()}
        assert bodies["Asia"] == bodies["US"] == bodies["EU"]
        assert "Snapshot of Mon 02 Nov 08:00 CST, the same for every standup post of the day." in bodies["US"]
        assert "Attendees: <@U_MANAGER> <@U_LEAD> <@U_SRE> <@U_DEV>" in bodies["US"]
        assert "- [x] Decision point: Pre-Implementation Go/No-Go" in bodies["US"]  # decided at 07:00
        assert "*Since the snapshot" not in posts["Asia"]
        since = posts["EU"].split("*Since the snapshot (to 11:00):*\n")[1]
        assert since.startswith("- day1.1: done in production at ")


class TestDryRun:
    async def test_reports_standups_and_on_demand_reports_say_dry_run_and_list_nothing_as_completed(
        self, tmp_path: Path
    ) -> None:
        clock = VirtualClock(utc(chicago(MONDAY, 7)))
        bot = await bot_with(tmp_path / "ion.db", clock, dry_run=True)
        poster = RecordingPoster(clock)
        runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
        try:
            await start_and_pass_preflight(bot)
            await runtime.start()
            await runtime.run_due(utc(chicago(MONDAY, 9, 5)))
            _, task = await start_lane(bot, "day1.1", "production")
            assert (await finish(clock, task)).ok
            await runtime.run_due(utc(chicago(MONDAY, 17, 5)))
            await runtime.reports.daily_report(CHANNEL, 1, lee)
            metrics = await runtime.reports.metrics(CHANNEL, lee)
        finally:
            await runtime.stop()
            await bot.close()
        [daily] = poster.keyed("daily_report:")
        assert daily.text.startswith("*DRY RUN: Week 17 Day 1 Report*\n_:test_tube: DRY RUN (ION_DRY_RUN)")
        assert section(daily.text, "Completed:*") == "\n- None"
        assert "Slow Query Analysis" not in section(daily.text, "Completed:*")
        assert "*Rehearsed in the dry run (nothing changed):*\n- day1.1 Slow Query Analysis (production" in daily.text
        assert all(p.text.startswith("*DRY RUN: Week 17 Day 1 Standup") for p in poster.keyed("standup:"))
        [on_demand] = poster.keyed("report:")
        assert on_demand.text.startswith("*DRY RUN: Week 17 Day 1 Report (as of Mon 02 Nov 17:00)*")
        assert metrics["text"].startswith("DRY RUN: Metrics now")


class TestEmail:
    async def test_two_replicas_posting_the_same_report_email_it_once_as_text_and_html_with_the_chart(
        self, tmp_path: Path
    ) -> None:
        inbox = Inbox()
        async with smtp_server(inbox) as port:
            mail = {
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_tls": "none",
                "report_email_to": ["team@ion.dev"],
            }
            clocks = [VirtualClock(utc(chicago(MONDAY, 17))) for _ in range(2)]
            bots = [await bot_with(tmp_path / "ion.db", clock, **mail) for clock in clocks]
            try:
                run = await start_and_pass_preflight(bots[0])
                pairs = zip(bots, clocks, strict=True)
                runtimes = [Runtime(b, RecordingPoster(c), watch_every=WATCH_EVERY) for b, c in pairs]
                await asyncio.gather(*(r.jobs.post_daily_report(run.id, 1, False) for r in runtimes))
            finally:
                for b in bots:
                    await b.close()
        [message] = inbox.messages
        assert inbox.recipients == [["team@ion.dev"]]
        assert message["Subject"] == "Week 17 Day 1 Report"
        parts = [p.get_content_type() for p in message.walk()]
        assert parts == ["multipart/alternative", "text/plain", "multipart/related", "text/html", "image/png"]
        plain = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert plain is not None and html is not None
        assert "*Objective:* Reduce query time from 18ms → 15ms" in plain.get_content().replace("\r\n", "\n")
        assert "<b>Objective:</b> Reduce query time" in html.get_content()
        assert 'src="cid:chart"' in html.get_content()

    async def test_a_failing_mail_server_is_retried_and_the_report_thread_says_so(self, tmp_path: Path) -> None:
        inbox = Inbox(refuse_first=3)  # the whole first round of attempts
        async with smtp_server(inbox) as port:
            mail = {
                "smtp_host": "127.0.0.1",
                "smtp_port": port,
                "smtp_tls": "none",
                "report_email_to": ["team@ion.dev"],
            }
            clock = VirtualClock(utc(chicago(MONDAY, 16)))
            bot = await bot_with(tmp_path / "ion.db", clock, **mail)
            poster = RecordingPoster(clock)
            runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
            try:
                run = await start_and_pass_preflight(bot)
                await runtime.start()
                await runtime.run_due(utc(chicago(MONDAY, 17, 1)))
                failed = [p.text for p in poster.keyed(f"reply:daily_report:{run.id}:1")]
                assert inbox.messages == []
                await runtime.run_due(utc(chicago(MONDAY, 17, 31)))  # the next tick tries again
            finally:
                await runtime.stop()
                await bot.close()
        [note] = failed
        assert note.startswith(
            f":warning: The email of this report to team@ion.dev could not be sent through SMTP 127.0.0.1:{port} "
            "(3 attempts; SMTPDataError: (451, '4.3.0 Mailbox busy, try again later')). "
            "It is tried again in 5 minutes, up to 3 more rounds."
        )
        assert len(inbox.messages) == 1
        notes = [p.text for p in poster.keyed(f"reply:daily_report:{run.id}:1")]
        assert notes[-1] == ":email: The email of this report was sent to team@ion.dev after all."


class TestTheBillingExport:
    async def test_with_ion_billing_export_the_realised_line_comes_from_bigquery(self, tmp_path: Path) -> None:
        table = BillingTable("ion-billing.billing.gcp_billing_export_v1_TEST")
        day = utc(chicago(MONDAY, 12))
        table.rows += [
            ExportRow("Cloud Run", 210.0, day - timedelta(days=2), credits=-7.0),  # 7 days: $203 -> $870/month
            ExportRow("Cloud Run", 500.0, day - timedelta(days=9)),  # before the 7-day window: not counted
            ExportRow("BigQuery", 40.0, day - timedelta(days=1)),  # not in the runbook's cost table
        ]
        async with bigquery_facade(table) as url:
            clock = VirtualClock(utc(chicago(MONDAY, 16)))
            bot = await bot_with(tmp_path / "ion.db", clock, billing_export=table.name, billing_api_url=url)
            poster = RecordingPoster(clock)
            runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
            try:
                run = await start_and_pass_preflight(bot)
                await runtime.jobs.post_daily_report(run.id, 1, False)
            finally:
                await bot.close()
        [report] = poster.keyed("daily_report:")
        realised = line_starting(report.text, "- Cost realised:")
        assert realised.startswith(
            "- Cost realised: -$330/month from the Cloud Billing export (Cloud Run $1,200 → $870 on Mon 02 Nov 16:00)"
        )
        assert realised.endswith("not billed yet: Cloud SQL, Cache")
        params = {p["name"]: p["parameterValue"]["value"] for p in table.queries[-1]["queryParameters"]}
        assert params["end"] == "2026-11-02 22:00:00+00:00"  # the report time, 16:00 in Chicago


class TestEmbeddedDefaults:
    async def test_without_smtp_the_report_email_goes_to_a_local_maildir(self, tmp_path: Path) -> None:
        clock = VirtualClock(utc(chicago(MONDAY, 17)))
        bot = await bot_with(tmp_path / "ion.db", clock, report_maildir=tmp_path / "mail")
        poster = RecordingPoster(clock)
        runtime = Runtime(bot, poster, watch_every=WATCH_EVERY)
        try:
            run = await start_and_pass_preflight(bot)
            await runtime.jobs.post_daily_report(run.id, 1, False)
            await runtime.jobs.post_daily_report(run.id, 1, False)  # a retried job: no second email
        finally:
            await bot.close()
        [message] = list(mailbox.Maildir(str(tmp_path / "mail"), create=False))
        assert message["Subject"] == "Week 17 Day 1 Report"
        assert message["To"] == "ion-team@example.com"  # the runbook's schedule.report_email_to

    async def test_a_single_standup_post_lists_every_local_time(self, tmp_path: Path) -> None:
        async with team_at(tmp_path / "ion.db", 7, WATCH_EVERY, started=True) as team:
            schedule = team.bot.runbook.schedule.model_copy(update={"standup_posts": "single"})
            team.bot.runbook = team.bot.runbook.model_copy(update={"schedule": schedule})
            await team.runtime.run_due(utc(chicago(MONDAY, 12)))
            [post] = team.poster.keyed("standup:")
        assert post.dedupe_key.startswith("standup:Asia:")  # 22:00 in Singapore is the day's first slot
        assert post.text.startswith("*Week 17 Day 1 Standup (all zones)*")
        assert "_Times: US 09:00 America/Chicago · EU 18:00 Europe/Berlin · Asia 22:00 Asia/Singapore_" in post.text
