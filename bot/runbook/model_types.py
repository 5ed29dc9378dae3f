"""The base of every runbook model and the field types they share (durations, clock times, conditions).

Parsed here so a bad one is reported by ``ionbot check`` and not at 5 PM.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from bot.runbook.conditions import Condition, parse_condition
from bot.runbook.durations import (
    clock_from_minutes,
    duration_from_seconds,
    format_duration,
    parse_clock,
    parse_duration,
)


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return duration_from_seconds(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError("expected a duration such as 5m, 30m or 24h")


def _to_clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads 17:00 as the sexagesimal integer 1020.
        return clock_from_minutes(value)
    if isinstance(value, str):
        return parse_clock(value)
    raise ValueError("expected a time of day such as 09:00 or 17:00")


def _to_condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    if isinstance(value, str):
        return parse_condition(value)
    raise ValueError("expected a condition such as 'error_rate_pct > 1 for 5m'")


Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^(\d+[dhms])+$", "examples": ["5m", "24h"]}),
]
ClockTime = Annotated[
    time,
    BeforeValidator(_to_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    Field(json_schema_extra={"type": "string", "pattern": r"^\d{1,2}:\d{2}$", "examples": ["17:00"]}),
]
ConditionExpr = Annotated[
    Condition,
    BeforeValidator(_to_condition),
    PlainSerializer(lambda c: c.text or str(c), return_type=str),
    Field(json_schema_extra={"type": "string", "examples": ["error_rate_pct > 1 for 5m"]}),
]

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
RoleId = str
EnvName = str


class Model(BaseModel):
    """Base: frozen, strict about unknown keys so typos are caught by ``ionbot check``."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)
