"""Faults injected into the synthetic metrics, written the way a game-day script says them.

    error_rate_pct 2.5 from day2 14:00 for 10m     at a wall-clock time of a run day
    error_rate_pct 2.5 after day2.1 for 10m        once day2.1's production lane has finished
    p95_latency_ms 180 after day2.1 +5m for 10m    five minutes after that
    error_rate_pct no_data from day2 14:00 for 5m  a gap: no points at all
    * no_data from day3 09:00 for 5m               every metric goes quiet

Times of day are in the calendar's time zone; day N is the Nth working day from the run's start.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.engine.calendar import WEEKDAYS as _WEEKDAYS
from bot.runbook.durations import parse_clock, parse_duration
from bot.runbook.models import Calendar, Runbook
from bot.runbook.suggest import did_you_mean

_FAULT = re.compile(
    r"^\s*(?P<metric>\*|[a-z][a-z0-9_]*)\s+(?P<value>no_data|-?\d+(?:\.\d+)?)\s+"
    r"(?:from\s+day(?P<day>\d+)\s+(?P<clock>\d{1,2}:\d{2})"
    r"|after\s+(?P<step>day\d+\.\d+)(?:\s*\+\s*(?P<offset>[0-9dhms]+))?)"
    r"\s+for\s+(?P<duration>[0-9dhms]+)\s*$"
)


class FaultSyntaxError(ValueError):
    """A fault line that does not follow the grammar; the message shows an example."""


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``value`` None means no data (a gap)."""

    metric: str
    value: float | None
    duration: timedelta
    day: int | None = None
    clock: time | None = None
    after_step: str | None = None
    offset: timedelta = timedelta(0)
    text: str = ""

    def applies_to(self, metric_id: str) -> bool:
        return self.metric in ("*", metric_id)


def parse_fault(text: str) -> Fault:
    match = _FAULT.match(text)
    if match is None:
        raise FaultSyntaxError(
            f"cannot read the fault {text!r}; write e.g. 'error_rate_pct 2.5 from day2 14:00 for 10m' "
            "or 'error_rate_pct no_data after day2.1 for 5m'"
        )
    try:
        duration = parse_duration(match["duration"])
        offset = parse_duration(match["offset"]) if match["offset"] else timedelta(0)
        clock = parse_clock(match["clock"]) if match["clock"] else None
    except ValueError as exc:
        raise FaultSyntaxError(f"in the fault {text!r}: {exc}") from None
    raw = match["value"]
    return Fault(
        metric=match["metric"],
        value=None if raw == "no_data" else float(raw),
        duration=duration,
        day=int(match["day"]) if match["day"] else None,
        clock=clock,
        after_step=match["step"],
        offset=offset,
        text=text.strip(),
    )


def working_day(start: date, number: int, weekdays: Iterable[str]) -> date:
    """The date of day ``number`` (1-based) counting only the calendar's working weekdays."""
    allowed = {_WEEKDAYS.index(w) for w in weekdays}
    if not allowed:
        raise ValueError("the calendar has no working weekdays, so day numbers cannot be placed")
    current = start
    seen = 0
    while True:
        if current.weekday() in allowed:
            seen += 1
            if seen == number:
                return current
        current += timedelta(days=1)


@dataclass(frozen=True)
class Override:
    """What a fault does to one point: replace its value, or drop it (``value`` None)."""

    value: float | None
    fault: Fault


class FaultPlan:
    """The faults of a simulation, resolved to UTC windows; relative ones wait for their step."""

    def __init__(
        self,
        faults: Iterable[Fault | str] = (),
        *,
        run_start: date | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        self._faults = [f if isinstance(f, Fault) else parse_fault(f) for f in faults]
        self._run_start = run_start
        self._calendar = calendar or Calendar(working_days=10)
        self._steps_done: dict[str, datetime] = {}
        for fault in self._faults:
            if fault.day is not None and run_start is None:
                raise ValueError(
                    f"the fault {fault.text!r} names a run day, but the simulation has no run start date; "
                    "pass run_start"
                )

    @property
    def faults(self) -> tuple[Fault, ...]:
        return tuple(self._faults)

    def add(self, fault: Fault | str) -> Fault:
        parsed = fault if isinstance(fault, Fault) else parse_fault(fault)
        self._faults.append(parsed)
        return parsed

    def note_step_done(self, step_id: str, at: datetime) -> None:
        """A step's production lane finished: faults written 'after <step>' start counting now."""
        self._steps_done.setdefault(step_id, at)

    def window(self, fault: Fault) -> tuple[datetime, datetime] | None:
        """When the fault is active, [start, end) in UTC; None while its step has not finished."""
        if fault.after_step is not None:
            done = self._steps_done.get(fault.after_step)
            if done is None:
                return None
            start = done + fault.offset
        else:
            assert fault.day is not None and fault.clock is not None and self._run_start is not None
            day = working_day(self._run_start, fault.day, self._calendar.weekdays)
            local = datetime.combine(day, fault.clock, ZoneInfo(self._calendar.timezone))
            start = local.astimezone(ZoneInfo("UTC"))
        return start, start + fault.duration

    def override(self, metric_id: str, at: datetime) -> Override | None:
        """The last-declared active fault for this metric at ``at`` wins."""
        return override_at(self.windows(metric_id), at)

    def lookup(self, metric_id: str) -> Callable[[datetime], Override | None] | None:
        """``override`` for one metric over a whole read (nothing changes the windows while it
        runs); None when no fault of the metric has a window. A plan whose ``override`` answers
        its own way (history.PastFaults) is asked point by point."""
        if type(self).override is not FaultPlan.override:
            return functools.partial(self.override, metric_id)
        windows = self.windows(metric_id)
        return functools.partial(override_at, windows) if windows else None

    def windows(self, metric_id: str) -> list[tuple[datetime, datetime, Override]]:
        """This metric's faults that have a window now, in declared order."""
        found: list[tuple[datetime, datetime, Override]] = []
        for fault in self._faults:
            span = self.window(fault) if fault.applies_to(metric_id) else None
            if span is not None:
                found.append((span[0], span[1], Override(fault.value, fault)))
        return found


def override_at(windows: list[tuple[datetime, datetime, Override]], at: datetime) -> Override | None:
    """The last of ``windows`` (FaultPlan.windows) open at ``at``."""
    found: Override | None = None
    for start, end, override in windows:
        if start <= at < end:
            found = override
    return found


def check_faults(texts: Iterable[str], runbook: Runbook) -> list[Fault]:
    """Every fault read and checked against the runbook before anything starts: a fault after a step
    that does not exist, or on a day or metric it lacks, would never fire and must not be accepted."""
    faults = [parse_fault(text) for text in texts]
    days = runbook.calendar.working_days
    production = {e.name for e in runbook.environments if e.production}
    for fault in faults:
        where = f"in the fault {fault.text!r}"
        if fault.after_step is not None:
            step = runbook.step(fault.after_step)
            if step is None:
                hint = did_you_mean(fault.after_step, [s.id for s in runbook.steps()])
                raise FaultSyntaxError(
                    _refused(f"{where}: runbook {runbook.id} has no step {fault.after_step}{hint}")
                    + " `ionbot list` shows the steps."
                )
            if not production.intersection(step.environments):
                raise FaultSyntaxError(
                    _refused(f"{where}: {step.id} never runs on production, so a fault after it would never start")
                    + " Name a production step or write 'from dayN HH:MM'."
                )
        if fault.day is not None and not 1 <= fault.day <= days:
            raise FaultSyntaxError(_refused(f"{where}: the run has days 1 to {days}, not day {fault.day}"))
        if fault.metric != "*" and runbook.metrics and runbook.metric(fault.metric) is None:
            hint = did_you_mean(fault.metric, [m.id for m in runbook.metrics])
            raise FaultSyntaxError(_refused(f"{where}: runbook {runbook.id} has no metric {fault.metric}{hint}"))
    return faults


def _refused(text: str) -> str:
    return (text if text.endswith("?") else text + ".") + " Nothing was started."
