"""The `/ion` command language: text in, one typed command (or a helpful ParseError) out.

Pure syntax only. Whether a step, gate or runbook exists is the engine's question;
here we only make sure ids are well formed, and fix the forgivable slips ("day 2.1").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from bot.runbook.suggest import did_you_mean

# --- commands ------------------------------------------------------------------------------

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
KNOWN_ENVIRONMENTS = ("staging", "production")
ENV_ALIASES = {"prod": "production", "prd": "production", "stage": "staging", "stg": "staging"}


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


# name -> (usage line, one-line description); the help card and every ParseError read this table.
USAGE: dict[str, tuple[str, str]] = {
    "help": ("/ion help [COMMAND]", "this list, or the usage of one command"),
    "start": (
        "/ion start RUNBOOK [DATE] [--shift]",
        "start a run; DATE is YYYY-MM-DD, today, tomorrow or a weekday; --shift lets days fall off their weekdays",
    ),
    "status": ("/ion status", "where the run stands"),
    "today": ("/ion today", "today's steps and their state"),
    "step": ("/ion step ID", "post a step card, e.g. /ion step day2.1"),
    "next": ("/ion next", "the next step to do"),
    "run": ("/ion run ID [staging|production]", "run a step (asks for confirmation)"),
    "approve": ("/ion approve ID [staging|production]", "approve a step"),
    "reject": ("/ion reject ID REASON", "reject a step, with a reason"),
    "gonogo": ("/ion gonogo [GATE]", "post a Go/No-Go card, e.g. /ion gonogo day3"),
    "gate": ("/ion gate [GATE]", "post a Go/No-Go card as it stands, e.g. /ion gate preflight"),
    "override": (
        "/ion override GATE CHECK REASON",
        "let a failing health check pass, with a reason (CHECK: its number on the card); lead or manager",
    ),
    "reopen": ("/ion reopen GATE REASON", "reopen a Go/No-Go decided NO, with a reason, to decide it again"),
    "rollback": ("/ion rollback [ID|last]", "show what a rollback restores, then confirm"),
    "report": ("/ion report [DAY]", "the daily report, now"),
    "standup": ("/ion standup", "the standup digest, now"),
    "metrics": ("/ion metrics", "metrics against baseline and target"),
    "incident": ("/ion incident TEXT", "record an incident and alert on-call"),
    "audit": ("/ion audit [N]", "the last N audit entries (default 20)"),
    "pause": ("/ion pause", "pause the run: nothing runs until resume"),
    "resume": ("/ion resume", "resume a paused run"),
    "finish": ("/ion finish [REASON]", "close the run (after the last day, or to abandon it)"),
    "scaling": ("/ion scaling", "the scaling rules in force"),
    "cost": ("/ion cost SERVICE AMOUNT", "record a service's monthly cost, e.g. /ion cost cloud-run $950"),
    "record": (
        "/ion record ITEM VALUE [NOTE]",
        "record a quality target only a person knows, e.g. /ion record zero-data-loss yes restore drill clean",
    ),
    "tick": ("/ion tick ID ITEM", "tick a checklist item of a step or gate"),
    "untick": ("/ion untick ID ITEM", "untick a checklist item"),
    "waive": ("/ion waive ID ITEM REASON", "waive a checklist item, with a reason"),
    "done": ("/ion done ID ITEM [VALUE]", "say a manual action is done, with its value, e.g. /ion done day3.1 1 67%"),
    "skip": ("/ion skip ID REASON", "skip a step, with a reason"),
    "backtest": ("/ion backtest [WEEKS]", "replay the triggers and checks on the last weeks of metrics (default 4)"),
}

_STEP_ID = re.compile(r"^day([0-9]{1,3})\.([0-9]{1,3})$")
_GATE_ID = re.compile(r"^(preflight|gonogo\.day[0-9]{1,3})$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
_ITEM_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_AMOUNT = re.compile(r"^\$?([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\.[0-9]{1,2})?$")
_DAY = re.compile(r"^(?:day)?([0-9]{1,3})$")


class _Bad(Exception):
    """Internal: a parse mistake, turned into a ParseError at the edge of ``parse``."""


def _show(word: str) -> str:
    """A typed word echoed back, short enough for one line."""
    return word if len(word) <= 40 else word[:40] + "…"


def _sentence(message: str) -> str:
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."


def _usage(name: str) -> str:
    return USAGE[name][0]


def _merge_spaced_step_ids(words: list[str]) -> list[str]:
    """'day 2.1' -> 'day2.1', so a slip of the space bar is not an error."""
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i].lower() == "day" and i + 1 < len(words) and re.match(r"^[0-9]+(\.[0-9]+)?$", words[i + 1]):
            out.append("day" + words[i + 1])
            i += 2
        else:
            out.append(words[i])
            i += 1
    return out


def _step_id(word: str) -> str:
    lowered = word.lower()
    if re.match(r"^[0-9]+\.[0-9]+$", lowered):
        lowered = "day" + lowered
    match = _STEP_ID.match(lowered)
    if match:
        return f"day{int(match.group(1))}.{int(match.group(2))}"
    if re.match(r"^day[0-9]+$", lowered):
        raise _Bad(f"'{_show(word)}' names a day, not a step; step ids look like {lowered}.1.")
    raise _Bad(f"'{_show(word)}' is not a step id; step ids look like day2.1 (day number, dot, step number).")


def _target_id(word: str) -> str:
    """A step id or a gate id (preflight, gonogo.day3)."""
    lowered = word.lower()
    if _GATE_ID.match(lowered):
        return lowered
    try:
        return _step_id(word)
    except _Bad:
        raise _Bad(
            f"'{_show(word)}' is neither a step id (like day2.1) nor a gate id (like preflight or gonogo.day3)."
        ) from None


def _gate_id(word: str) -> str:
    lowered = word.lower()
    if _GATE_ID.match(lowered):
        return lowered
    match = _DAY.match(lowered)
    if match:
        return f"gonogo.day{int(match.group(1))}"
    raise _Bad(f"'{_show(word)}' is not a gate id; gate ids look like preflight or gonogo.day3 (or just day3).")


def _environment(word: str) -> str:
    lowered = word.lower()
    if lowered in ENV_ALIASES:
        return ENV_ALIASES[lowered]
    if lowered in KNOWN_ENVIRONMENTS:
        return lowered
    hint = did_you_mean(lowered, KNOWN_ENVIRONMENTS)
    if hint:
        raise _Bad(f"unknown environment '{_show(word)}'{hint}")
    if _NAME.match(lowered):
        return lowered  # a runbook may define more environments; the engine checks the name
    raise _Bad(f"'{_show(word)}' is not an environment name; use staging or production.")


def _date(word: str) -> DateRef:
    lowered = word.lower()
    if lowered == "today":
        return DateRef()
    if lowered == "tomorrow":
        return DateRef(days_from_today=1)
    for i, name in enumerate(WEEKDAYS):
        if lowered in (name, name[:3]):
            return DateRef(weekday=i)
    if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", lowered):
        try:
            return DateRef(on=date.fromisoformat(lowered))
        except ValueError:
            raise _Bad(f"'{_show(word)}' is not a real date; check the month and day.") from None
    raise _Bad(f"'{_show(word)}' is not a date; use YYYY-MM-DD (2025-10-27), today, tomorrow or a weekday (monday).")


def _amount(word: str) -> Decimal:
    if not _AMOUNT.match(word):
        raise _Bad(f"'{_show(word)}' is not an amount in dollars; write it like $950 or 950.00.")
    try:
        return Decimal(word.lstrip("$").replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation:
        raise _Bad(f"'{_show(word)}' is not an amount in dollars; write it like $950 or 950.00.") from None


def _count(word: str) -> int:
    if not re.fullmatch(r"[0-9]{1,4}", word) or not 1 <= int(word) <= 500:
        raise _Bad(f"'{_show(word)}' is not a number of entries; give a whole number from 1 to 500.")
    return int(word)


def _weeks(word: str) -> float:
    if not re.fullmatch(r"[0-9]{1,2}(\.[0-9])?", word) or not 0 < float(word) <= 13:
        raise _Bad(f"'{_show(word)}' is not a number of weeks; give one from 1 to 13, e.g. 4.")
    return float(word)


def _name(word: str, what: str) -> str:
    lowered = word.lower()
    if not _NAME.match(lowered):
        raise _Bad(f"'{_show(word)}' is not a {what} name; use lower-case letters, digits, '-', '_' or '.'.")
    return lowered


def _item(word: str) -> str:
    lowered = word.lower()
    if not _ITEM_ID.match(lowered):
        raise _Bad(f"'{_show(word)}' is not a checklist item id; item ids look like pool-size or db_lag.")
    return lowered


def _arity(name: str, args: list[str], least: int, most: int | None) -> None:
    if len(args) < least:
        missing = _usage(name).split()[2 + len(args)]
        raise _Bad(f"'{name}' is missing {missing}.")
    if most is not None and len(args) > most:
        extra = " ".join(args[most:])
        what = "no arguments" if most == 0 else f"at most {most} argument{'s' if most > 1 else ''}"
        raise _Bad(f"'{name}' takes {what}; I don't know what to do with '{_show(extra)}'.")


def _rest(args: list[str], start: int) -> str:
    return " ".join(args[start:]).strip()


_WITHOUT_ARGUMENTS: dict[str, Command] = {
    "status": StatusCommand(),
    "today": TodayCommand(),
    "next": NextCommand(),
    "standup": StandupCommand(),
    "metrics": MetricsCommand(),
    "pause": PauseCommand(),
    "resume": ResumeCommand(),
    "scaling": ScalingCommand(),
}


def _build(name: str, args: list[str]) -> Command:
    if name == "help":
        _arity(name, args, 0, 1)
        topic = args[0].lower() if args else None
        if topic is not None and topic not in USAGE:
            raise _Bad(f"there is no command '{_show(args[0])}'{did_you_mean(topic, USAGE)}")
        return HelpCommand(topic)
    if name == "start":
        shift = "--shift" in (a.lower() for a in args)
        args = [a for a in args if a.lower() != "--shift"]
        _arity(name, args, 1, 2)
        return StartCommand(_name(args[0], "runbook"), _date(args[1]) if len(args) > 1 else DateRef(), shift)
    if name in _WITHOUT_ARGUMENTS:
        _arity(name, args, 0, 0)
        return _WITHOUT_ARGUMENTS[name]
    if name == "finish":
        return FinishCommand(" ".join(args) or None)
    if name == "step":
        _arity(name, args, 1, 1)
        return StepCommand(_step_id(args[0]))
    if name in ("run", "approve"):
        _arity(name, args, 1, 2)
        env = _environment(args[1]) if len(args) > 1 else None
        step = _step_id(args[0])
        return RunCommand(step, env) if name == "run" else ApproveCommand(step, env)
    if name in ("reject", "skip"):
        _arity(name, args, 2, None)
        step = _step_id(args[0])
        return RejectCommand(step, _rest(args, 1)) if name == "reject" else SkipCommand(step, _rest(args, 1))
    if name == "gonogo":
        _arity(name, args, 0, 1)
        return GoNoGoCommand(_gate_id(args[0]) if args else None)
    if name == "gate":
        _arity(name, args, 0, 1)
        return GateCommand(_gate_id(args[0]) if args else None)
    if name == "override":
        _arity(name, args, 3, None)
        return OverrideCommand(_gate_id(args[0]), args[1], _rest(args, 2))
    if name == "reopen":
        _arity(name, args, 2, None)
        return ReopenCommand(_gate_id(args[0]), _rest(args, 1))
    if name == "rollback":
        _arity(name, args, 0, 1)
        if not args or args[0].lower() == "last":
            return RollbackCommand(None)
        return RollbackCommand(_step_id(args[0]))
    if name == "report":
        _arity(name, args, 0, 1)
        if not args:
            return ReportCommand(None)
        match = _DAY.match(args[0].lower())
        if not match or int(match.group(1)) < 1:
            raise _Bad(f"'{_show(args[0])}' is not a day; write it like 3 or day3.")
        return ReportCommand(int(match.group(1)))
    if name == "incident":
        _arity(name, args, 1, None)
        return IncidentCommand(_rest(args, 0))
    if name == "audit":
        _arity(name, args, 0, 1)
        return AuditCommand(_count(args[0]) if args else 20)
    if name == "cost":
        _arity(name, args, 2, 2)
        return CostCommand(_name(args[0], "service"), _amount(args[1]))
    if name == "record":
        _arity(name, args, 2, None)
        return RecordCommand(_item(args[0]), args[1].lower(), _rest(args, 2) or None)
    if name in ("tick", "untick"):
        _arity(name, args, 2, 2)
        target, item = _target_id(args[0]), _item(args[1])
        return TickCommand(target, item) if name == "tick" else UntickCommand(target, item)
    if name == "waive":
        _arity(name, args, 3, None)
        return WaiveCommand(_target_id(args[0]), _item(args[1]), _rest(args, 2))
    if name == "done":
        _arity(name, args, 2, None)
        return DoneCommand(_step_id(args[0]), _item(args[1]), _rest(args, 2) or None)
    if name == "backtest":
        _arity(name, args, 0, 1)
        return BacktestCommand(_weeks(args[0]) if args else 4.0)
    raise _Bad(f"unknown command '{name}'")  # unreachable: names are checked before _build


def parse(text: str) -> Command | ParseError:
    """Read the text after `/ion`. Never raises: every mistake comes back as a ParseError."""
    words = _merge_spaced_step_ids(text.split())
    if not words:
        return HelpCommand()
    name = words[0].lower()
    if name not in USAGE:
        hint = did_you_mean(name, USAGE)
        return ParseError(
            _sentence(f"Unknown command '{_show(words[0])}'{hint}"), hint="Type `/ion help` for the list."
        )
    try:
        return _build(name, words[1:])
    except _Bad as bad:
        return ParseError(_sentence(str(bad)), _usage(name))
