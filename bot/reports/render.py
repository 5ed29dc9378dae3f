"""Render reports from Jinja2 templates into Slack mrkdwn.

Undefined names fail loudly (StrictUndefined) and every template is rendered once with a
sample context at start-up (``bot.reports.template_check.validate_templates``), so a broken team
template is reported when the bot starts, not at 5 PM. Autoescape is off (mrkdwn is not HTML); templates pass
every user-provided string through the ``mrkdwn`` filter instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The money formats live in the engine (the cost use case words its sentences with them); re-exported.
from bot.engine.money import format_number as format_number
from bot.engine.money import format_usd as format_usd
from bot.reports.escape import mrkdwn

if TYPE_CHECKING:
    from jinja2 import Environment

PACKAGED_TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
TEMPLATES_DIR_ENV = "ION_TEMPLATES_DIR"

DAILY_REPORT = "daily_report.md.j2"
STANDUP = "standup.md.j2"
PHASE_SUMMARY = "phase_summary.md.j2"
FINAL_REPORT = "final_report.md.j2"
STEP_CARD = "step_card.txt.j2"
TEMPLATE_NAMES: tuple[str, ...] = (DAILY_REPORT, STANDUP, PHASE_SUMMARY, FINAL_REPORT, STEP_CARD)


def templates_dir_from_env() -> Path | None:
    """The team's template directory from ``ION_TEMPLATES_DIR``, or None for the packaged ones."""
    configured = os.environ.get(TEMPLATES_DIR_ENV, "").strip()
    return Path(configured) if configured else None


def build_environment(custom_dir: Path | None = None) -> Environment:
    """A team directory first, the packaged templates second: a team overrides only what it wants."""
    # Imported here: Jinja is needed for the first report, not for answering Slack.
    from jinja2 import BaseLoader, ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

    loaders: list[BaseLoader] = []
    if custom_dir is not None:
        loaders.append(FileSystemLoader(str(custom_dir)))
    loaders.append(FileSystemLoader(str(PACKAGED_TEMPLATES)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters["mrkdwn"] = mrkdwn
    env.filters["value"] = format_value
    env.filters["usd"] = format_usd
    env.filters["hm"] = format_hm
    env.filters["day"] = format_day
    return env


def format_value(value: float | None, unit: str = "") -> str:
    """A metric value with its unit; a missing value is "no data", never a number."""
    if value is None:
        return "no data"
    if unit == "usd":
        return format_usd(value)
    suffix = {"pct": "%", "ms": "ms", "mb": "MB", "rps": " r/s"}.get(unit, "")
    return format_number(value) + suffix


def format_hm(value: datetime | None) -> str:
    return value.strftime("%H:%M") if value is not None else "time unknown"


def format_day(value: datetime | None) -> str:
    """ "Tue 03 Nov 10:12": the day and time a fact was recorded."""
    return value.strftime("%a %d %b %H:%M") if value is not None else "time unknown"


class ReportRenderer:
    """Renders the report templates; one instance per process, templates cached by Jinja."""

    def __init__(self, custom_dir: Path | None = None) -> None:
        self.custom_dir = custom_dir

    @cached_property
    def environment(self) -> Environment:
        """Built at the first render, so a starting bot does not load Jinja before it answers."""
        return build_environment(self.custom_dir)

    def render(self, template: str, context: Mapping[str, Any]) -> str:
        return self.environment.get_template(template).render(**context).strip() + "\n"
