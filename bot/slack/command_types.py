"""The typed commands `/ion` text reads as, and the ParseError it reads as when it cannot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class DateRef:
    """A start date as typed: a calendar date, today (+ offset), or the next given weekday."""

    on: date | None = None
    weekday: int | None = None  # 0 = Monday
    days_from_today: int = 0

    def resolve(self, today: date) -> date:
        """The concrete date; a weekday means today if it is that day, else the next one."""
        if self.on is not None:
            return self.on
        if self.weekday is not None:
            return today + timedelta(days=(self.weekday - today.weekday()) % 7)
        return today + timedelta(days=self.days_from_today)


@dataclass(frozen=True)
class HelpCommand:
    topic: str | None = None


@dataclass(frozen=True)
class StartCommand:
    runbook: str
    date: DateRef = DateRef()
    shift: bool = False  # --shift: accept days that fall off the runbook's weekdays


@dataclass(frozen=True)
class StatusCommand:
    pass


@dataclass(frozen=True)
class TodayCommand:
    pass


@dataclass(frozen=True)
class StepCommand:
    step_id: str


@dataclass(frozen=True)
class NextCommand:
    pass


@dataclass(frozen=True)
class RunCommand:
    """Run a step; ``environment`` None lets the engine pick (staging first when the step says so)."""

    step_id: str
    environment: str | None = None


@dataclass(frozen=True)
class ApproveCommand:
    step_id: str
    environment: str | None = None


@dataclass(frozen=True)
class RejectCommand:
    step_id: str
    reason: str


@dataclass(frozen=True)
class GoNoGoCommand:
    gate_id: str | None = None


@dataclass(frozen=True)
class GateCommand:
    """Post a gate's card as it stands (``/ion gonogo`` measures the health checks first)."""

    gate_id: str | None = None


@dataclass(frozen=True)
class OverrideCommand:
    """Let a failing health check of a gate pass, with a reason (a lead or the manager; audited)."""

    gate_id: str
    check: str
    reason: str


@dataclass(frozen=True)
class ReopenCommand:
    """Take back a Go/No-Go decided NO, so it can be decided again."""

    gate_id: str
    reason: str


@dataclass(frozen=True)
class RollbackCommand:
    """Roll back ``step_id``, or the latest production step when None ("last")."""

    step_id: str | None = None


@dataclass(frozen=True)
class ReportCommand:
    day: int | None = None


@dataclass(frozen=True)
class StandupCommand:
    pass


@dataclass(frozen=True)
class MetricsCommand:
    pass


@dataclass(frozen=True)
class IncidentCommand:
    text: str


@dataclass(frozen=True)
class AuditCommand:
    limit: int = 20


@dataclass(frozen=True)
class PauseCommand:
    pass


@dataclass(frozen=True)
class ResumeCommand:
    pass


@dataclass(frozen=True)
class FinishCommand:
    reason: str | None = None


@dataclass(frozen=True)
class ScalingCommand:
    pass


@dataclass(frozen=True)
class CostCommand:
    service: str
    amount_usd: Decimal


@dataclass(frozen=True)
class RecordCommand:
    """Record a fact only a person knows (a quality target such as zero-data-loss): yes/no and a note."""

    item: str
    value: str
    note: str | None = None


@dataclass(frozen=True)
class TickCommand:
    """Tick a checklist item of a step or a gate (``target_id`` is day2.1 or gonogo.day3)."""

    target_id: str
    item_id: str


@dataclass(frozen=True)
class UntickCommand:
    target_id: str
    item_id: str


@dataclass(frozen=True)
class WaiveCommand:
    target_id: str
    item_id: str
    reason: str


@dataclass(frozen=True)
class DoneCommand:
    """A person's Done on a manual action of a step, with the value it asks for (``67%``, a link)."""

    step_id: str
    item: str
    value: str | None = None


@dataclass(frozen=True)
class SkipCommand:
    step_id: str
    reason: str


@dataclass(frozen=True)
class BacktestCommand:
    """Replay the runbook's conditions on the last ``weeks`` of production metrics (bot/backtest)."""

    weeks: float = 4.0


@dataclass(frozen=True)
class PersonRef:
    """A person as the command named them: picked from the @ menu or given by id (``user_id``), else
    typed as a name (``name``, without its @), which the chat layer looks up in the team directory."""

    user_id: str = ""
    name: str = ""


@dataclass(frozen=True)
class DelegateCommand:
    """``/ion delegate ROLE @person until DATE``: the person holds the role until the end of DATE."""

    role: str
    person: PersonRef
    until: DateRef


Command = (
    HelpCommand
    | StartCommand
    | StatusCommand
    | TodayCommand
    | StepCommand
    | NextCommand
    | RunCommand
    | ApproveCommand
    | RejectCommand
    | GoNoGoCommand
    | GateCommand
    | OverrideCommand
    | ReopenCommand
    | RollbackCommand
    | ReportCommand
    | StandupCommand
    | MetricsCommand
    | IncidentCommand
    | AuditCommand
    | PauseCommand
    | FinishCommand
    | ResumeCommand
    | ScalingCommand
    | CostCommand
    | RecordCommand
    | TickCommand
    | UntickCommand
    | WaiveCommand
    | DoneCommand
    | SkipCommand
    | BacktestCommand
    | DelegateCommand
)


@dataclass(frozen=True)
class ParseError:
    """A command we could not read: what is wrong, and the usage line to fix it. Nothing was changed."""

    message: str  # may quote what the person typed: escaped as a whole before it is posted
    usage: str | None = None
    hint: str = ""  # the bot's own words after the message, with its own `code`; never user text

    def __str__(self) -> str:
        usage = f" Usage: `{self.usage}`" if self.usage else ""
        hint = f" {self.hint}" if self.hint else ""
        return f"{self.message}{hint} Nothing was changed.{usage}"
