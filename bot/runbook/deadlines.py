"""What the runbook says about time running out: deadlines on approvals, gates and manual items,
and who is on call (a PagerDuty schedule).

Kept apart from models.py (which imports it) so the rules of "nobody drops the ball" read in one
place; the types are the same as models.py's (durations "2h", times "19:00").
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Literal

from pydantic import Field, model_validator

from bot.runbook.durations import (
    parse_clock,
)
from bot.runbook.model_types import ClockTime, Duration, Model

DUE = re.compile(r"^day(\d+)\s+(\d{1,2}:\d{2})$")
DEFAULT_REMIND = timedelta(minutes=30)


class Deadline(Model):
    """``due: "day2 11:00"`` or ``within: 2h`` (of becoming ready); neither: the end of the step's window.

    ``remind`` before it the people who can act are reminded; at it ``then`` happens: ``escalate``
    (mention and DM the ``escalate`` role), ``hold`` (the run is held with a sentence) or ``fail``
    (the item is marked missed, and the report says so).
    """

    due: str | None = Field(None, description='Run day and local time, e.g. "day2 11:00".')
    within: Duration | None = Field(None, description="Time allowed after the item becomes ready, e.g. 2h.")
    remind: Duration = Field(DEFAULT_REMIND, description="How long before the deadline the reminder goes out.")
    then: Literal["escalate", "hold", "fail"] = Field("escalate", description="What happens at the deadline.")
    escalate: str = Field("manager", description="The role told at the deadline when 'then' is escalate.")

    @model_validator(mode="after")
    def _one_kind(self) -> Deadline:
        if self.due is not None and self.within is not None:
            raise ValueError("a deadline takes 'due' or 'within', not both")
        if self.due is not None and DUE.match(self.due.strip()) is None:
            raise ValueError(f'due {self.due!r} is not "dayN HH:MM" (e.g. "day2 11:00")')
        if self.due is not None:
            parse_clock(DUE.match(self.due.strip()).group(2))  # type: ignore[union-attr]
        return self

    def due_day_and_time(self) -> tuple[int, time] | None:
        found = DUE.match(self.due.strip()) if self.due else None
        return (int(found.group(1)), parse_clock(found.group(2))) if found else None


class PagerDutyOnCall(Model):
    """Who ``sre_oncall`` is: whoever PagerDuty has on call now on ``schedule`` (with ION_PAGERDUTY_TOKEN)."""

    schedule: str = Field(description="PagerDuty schedule id, e.g. PABC123.")
    role: str = Field("sre_oncall", description="The role on-call fills.")


class Handover(Model):
    """The overnight handover: on-call accepts the 5 PM report's **Armed tonight** by ``deadline``
    (local time, the same day); if nobody does, the bot applies ``fallback`` until ``until`` the next
    morning and says so in the channel.

    ``shorten_hold`` cuts every automatic rollback's countdown to ``hold`` (nobody is there to press
    Hold); ``page_secondary`` pages (mentions and DMs, and PagerDuty when configured) the ``secondary``
    role; ``pause_auto_advance`` pauses the run, so the bot starts nothing on its own overnight.
    """

    deadline: ClockTime = Field(time(19, 0), description="Local time by which on-call accepts, e.g. 19:00.")
    fallback: Literal["shorten_hold", "page_secondary", "pause_auto_advance"] = Field(
        "shorten_hold", description="What the bot does when nobody accepted by the deadline."
    )
    hold: Duration = Field(timedelta(minutes=5), description="The shortened countdown of shorten_hold.")
    secondary: str = Field("manager", description="The role page_secondary pages.")
    role: str = Field("sre_oncall", description="Who accepts the handover (a lead may too).")
    until: ClockTime = Field(time(8, 0), description="When the fallback ends the next morning (local).")
