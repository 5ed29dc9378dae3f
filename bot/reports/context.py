"""Template contexts: the report data plus the few facts the templates cannot derive.

Each template gets one top-level name (``report`` or ``card``) so a team template only
needs to know one object's fields.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from bot.engine.report_data import DailyReport, FinalReport, PhaseSummary, StandupDigest
from bot.reports.render import (
    DAILY_REPORT,
    FINAL_REPORT,
    PHASE_SUMMARY,
    STANDUP,
    STEP_CARD,
    ReportRenderer,
    format_usd,
)
from bot.runbook.models import Step

Report = DailyReport | StandupDigest | PhaseSummary | FinalReport

_TEMPLATE_OF: dict[type[Any], str] = {
    DailyReport: DAILY_REPORT,
    StandupDigest: STANDUP,
    PhaseSummary: PHASE_SUMMARY,
    FinalReport: FINAL_REPORT,
}


@dataclass(frozen=True)
class ChecklistLine:
    text: str
    ticked: bool


@dataclass(frozen=True)
class StepCard:
    """The text fallback of a step card (notifications, console, screen readers)."""

    step_id: str
    title: str
    environment: str
    state: str
    objective: str | None
    window: str | None
    plan: tuple[str, ...]
    checklist: tuple[ChecklistLine, ...]
    approvals: tuple[str, ...]
    expected_impact: str | None
    cost_impact: str | None


def step_card(
    step: Step, environment: str, state: str, ticked: Collection[str] = (), plan: Sequence[str] = ()
) -> StepCard:
    """``plan`` is the actions' describe()/diff lines, computed by the engine against a fresh snapshot."""
    window = f"{step.window.start:%H:%M}-{step.window.end:%H:%M}" if step.window else None
    cost = None
    if step.cost_impact is not None:
        cost = f"{step.cost_impact.service} {format_usd(step.cost_impact.monthly_usd)}/month"
    return StepCard(
        step_id=step.id,
        title=step.title,
        environment=environment,
        state=state,
        objective=step.objective,
        window=window,
        plan=tuple(plan),
        checklist=tuple(ChecklistLine(item.text, item.id in ticked) for item in step.checklist_items()),
        approvals=tuple(f"{rule.role} x{rule.count}" for rule in step.approvals),
        expected_impact=step.expected_impact,
        cost_impact=cost,
    )


def report_context(report: Report) -> dict[str, Any]:
    return {"report": report}


def card_context(card: StepCard) -> dict[str, Any]:
    return {"card": card}


def template_for(report: Report) -> str:
    return _TEMPLATE_OF[type(report)]


def render_report(renderer: ReportRenderer, report: Report) -> str:
    """The mrkdwn text of any report (daily, standup, phase summary, final)."""
    return renderer.render(template_for(report), report_context(report))


def render_step_card(renderer: ReportRenderer, card: StepCard) -> str:
    return renderer.render(STEP_CARD, card_context(card))
