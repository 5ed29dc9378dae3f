"""The reports side of one process, built once: the scheduler's job bodies and the chat's report commands.

``build_report_services`` wires the small services over one gatherer, renderer, poster and emailer:
``ScheduledJobs`` (what a job does when it fires: bot/reports/jobs.py), ``ReportPublisher`` and
``StandupPoster`` (build and post), ``ScalingRules`` / ``ScalingStatus``, the engine's
``CostRecording``, and ``ReportCommands``, the on-demand commands behind the Slack app's port.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.engine.audit import Auditor
from bot.engine.cost_recording import CostRecording
from bot.reports.answers import FactRecording, MetricsAnswer
from bot.reports.commands import ReportCommands
from bot.reports.emailing import ReportEmailer
from bot.reports.gather import ReportGatherer
from bot.reports.jobs import ScheduledJobs
from bot.reports.mail import Mailer, mailer_from_settings
from bot.reports.on_demand import OnDemandReports
from bot.reports.ports import ReportPoster
from bot.reports.publisher import ReportPublisher
from bot.reports.render import ReportRenderer
from bot.reports.scaling_rules import ScalingRules, ScalingStatus
from bot.reports.standup_post import StandupPoster
from bot.reports.standups import StandupDesk
from bot.reports.timing import AsOf, ReportTimes

if TYPE_CHECKING:
    from bot.bootstrap import Bot

__all__ = ["AsOf", "ReportPoster", "ReportServices", "build_report_services"]


@dataclass(frozen=True)
class ReportServices:
    """What the runtime and the chat layer get: ``jobs`` for the scheduler, ``commands`` for the chat."""

    jobs: ScheduledJobs
    commands: ReportCommands


def build_report_services(
    bot: Bot,
    poster: ReportPoster,
    renderer: ReportRenderer | None = None,
    mailer: Mailer | None = None,
) -> ReportServices:
    """One set per process, sharing the bot's store and clock; the final report listens for decisions."""
    gather = ReportGatherer(bot)
    emailer = ReportEmailer(bot, poster, mailer if mailer is not None else mailer_from_settings(bot.settings))
    publisher = ReportPublisher(
        bot, poster, renderer or ReportRenderer(), gather, emailer, ReportTimes(lambda: bot.runbook, bot.clock)
    )
    standups = StandupPoster(publisher, StandupDesk(bot))
    jobs = ScheduledJobs(bot, publisher, standups, ScalingRules(bot, publisher, publisher.scaling_log), emailer)
    bot.events.subscribe(jobs.on_event)
    commands = ReportCommands(
        reports=OnDemandReports(bot.rollout, publisher, standups),
        metrics_now=MetricsAnswer(bot, gather),
        costs=CostRecording(lambda: bot.runbook, bot.clock, bot.rollout, bot.store, Auditor(bot.store, bot.clock)),
        facts=FactRecording(bot),
        scaling_status=ScalingStatus(bot),
    )
    return ReportServices(jobs, commands)
