"""The grammar of `/ion`: each command's usage line, how many words it takes, and how they read.

The help card and every ParseError read ``USAGE``; ``build`` reads one command's words with one small
reader per command (``_READERS``), refusing with ``BadWords`` in a sentence.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.runbook.suggest import did_you_mean
from bot.slack import command_words as w
from bot.slack.command_types import (
    ApproveCommand,
    AuditCommand,
    BacktestCommand,
    Command,
    CostCommand,
    DateRef,
    DelegateCommand,
    DoneCommand,
    FinishCommand,
    GateCommand,
    GoNoGoCommand,
    HelpCommand,
    IncidentCommand,
    MetricsCommand,
    NextCommand,
    OverrideCommand,
    PauseCommand,
    RecordCommand,
    RejectCommand,
    ReopenCommand,
    ReportCommand,
    ResumeCommand,
    RollbackCommand,
    RunCommand,
    ScalingCommand,
    SkipCommand,
    StandupCommand,
    StartCommand,
    StatusCommand,
    StepCommand,
    TickCommand,
    TodayCommand,
    UntickCommand,
    WaiveCommand,
)
from bot.slack.command_words import BadWords, show

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
    "delegate": (
        "/ion delegate ROLE PERSON DATE",
        "PERSON (an @-mention, or their Slack name typed) holds ROLE until the end of DATE while you are out, e.g. "
        "/ion delegate lead @lou until 2026-11-06",
    ),
}


def usage(name: str) -> str:
    return USAGE[name][0]


def _arity(name: str, args: list[str], least: int, most: int | None) -> None:
    if len(args) < least:
        missing = usage(name).split()[2 + len(args)]
        raise BadWords(f"'{name}' is missing {missing}.")
    if most is not None and len(args) > most:
        extra = " ".join(args[most:])
        what = "no arguments" if most == 0 else f"at most {most} argument{'s' if most > 1 else ''}"
        raise BadWords(f"'{name}' takes {what}; I don't know what to do with '{show(extra)}'.")


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


def build(name: str, args: list[str]) -> Command:
    """The command ``name`` (a key of USAGE) with its words ``args``, or BadWords saying what is wrong."""
    if name in _WITHOUT_ARGUMENTS:
        _arity(name, args, 0, 0)
        return _WITHOUT_ARGUMENTS[name]
    reader = _READERS.get(name)
    if reader is None:
        raise BadWords(f"unknown command '{name}'")  # unreachable: names are checked before build
    return reader(name, args)


def _help(name: str, args: list[str]) -> Command:
    _arity(name, args, 0, 1)
    topic = args[0].lower() if args else None
    if topic is not None and topic not in USAGE:
        raise BadWords(f"there is no command '{show(args[0])}'{did_you_mean(topic, USAGE)}")
    return HelpCommand(topic)


def _start(name: str, args: list[str]) -> Command:
    shift = "--shift" in (a.lower() for a in args)
    args = [a for a in args if a.lower() != "--shift"]
    _arity(name, args, 1, 2)
    return StartCommand(w.plain_name(args[0], "runbook"), w.date_ref(args[1]) if len(args) > 1 else DateRef(), shift)


def _finish(name: str, args: list[str]) -> Command:
    return FinishCommand(" ".join(args) or None)


def _step(name: str, args: list[str]) -> Command:
    _arity(name, args, 1, 1)
    return StepCommand(w.step_id(args[0]))


def _run_or_approve(name: str, args: list[str]) -> Command:
    _arity(name, args, 1, 2)
    env = w.environment(args[1]) if len(args) > 1 else None
    step = w.step_id(args[0])
    return RunCommand(step, env) if name == "run" else ApproveCommand(step, env)


def _reject_or_skip(name: str, args: list[str]) -> Command:
    _arity(name, args, 2, None)
    step = w.step_id(args[0])
    return RejectCommand(step, _rest(args, 1)) if name == "reject" else SkipCommand(step, _rest(args, 1))


def _gate_card(name: str, args: list[str]) -> Command:
    _arity(name, args, 0, 1)
    gate = w.gate_id(args[0]) if args else None
    return GoNoGoCommand(gate) if name == "gonogo" else GateCommand(gate)


def _override(name: str, args: list[str]) -> Command:
    _arity(name, args, 3, None)
    return OverrideCommand(w.gate_id(args[0]), args[1], _rest(args, 2))


def _reopen(name: str, args: list[str]) -> Command:
    _arity(name, args, 2, None)
    return ReopenCommand(w.gate_id(args[0]), _rest(args, 1))


def _rollback(name: str, args: list[str]) -> Command:
    _arity(name, args, 0, 1)
    if not args or args[0].lower() == "last":
        return RollbackCommand(None)
    return RollbackCommand(w.step_id(args[0]))


def _report(name: str, args: list[str]) -> Command:
    _arity(name, args, 0, 1)
    if not args:
        return ReportCommand(None)
    match = w.DAY_NUMBER.match(args[0].lower())
    if not match or int(match.group(1)) < 1:
        raise BadWords(f"'{show(args[0])}' is not a day; write it like 3 or day3.")
    return ReportCommand(int(match.group(1)))


def _incident(name: str, args: list[str]) -> Command:
    _arity(name, args, 1, None)
    return IncidentCommand(_rest(args, 0))


def _audit(name: str, args: list[str]) -> Command:
    _arity(name, args, 0, 1)
    return AuditCommand(w.entry_count(args[0]) if args else 20)


def _cost(name: str, args: list[str]) -> Command:
    _arity(name, args, 2, 2)
    return CostCommand(w.plain_name(args[0], "service"), w.dollars(args[1]))


def _record(name: str, args: list[str]) -> Command:
    _arity(name, args, 2, None)
    return RecordCommand(w.item_id(args[0]), args[1].lower(), _rest(args, 2) or None)


def _tick_or_untick(name: str, args: list[str]) -> Command:
    _arity(name, args, 2, 2)
    target, item = w.target_id(args[0]), w.item_id(args[1])
    return TickCommand(target, item) if name == "tick" else UntickCommand(target, item)


def _waive(name: str, args: list[str]) -> Command:
    _arity(name, args, 3, None)
    return WaiveCommand(w.target_id(args[0]), w.item_id(args[1]), _rest(args, 2))


def _done(name: str, args: list[str]) -> Command:
    _arity(name, args, 2, None)
    return DoneCommand(w.step_id(args[0]), w.item_id(args[1]), _rest(args, 2) or None)


def _backtest(name: str, args: list[str]) -> Command:
    _arity(name, args, 0, 1)
    return BacktestCommand(w.weeks(args[0]) if args else 4.0)


def _delegate(name: str, args: list[str]) -> Command:
    if len(args) > 2 and args[2].lower() == "until":  # "until" reads well and may be left out
        args = args[:2] + args[3:]
    _arity(name, args, 3, 3)
    return DelegateCommand(w.role_id(args[0]), w.person(args[1]), w.date_ref(args[2]))


_READERS: dict[str, Callable[[str, list[str]], Command]] = {
    "help": _help,
    "start": _start,
    "finish": _finish,
    "step": _step,
    "run": _run_or_approve,
    "approve": _run_or_approve,
    "reject": _reject_or_skip,
    "skip": _reject_or_skip,
    "gonogo": _gate_card,
    "gate": _gate_card,
    "override": _override,
    "reopen": _reopen,
    "rollback": _rollback,
    "report": _report,
    "incident": _incident,
    "audit": _audit,
    "cost": _cost,
    "record": _record,
    "tick": _tick_or_untick,
    "untick": _tick_or_untick,
    "waive": _waive,
    "done": _done,
    "backtest": _backtest,
    "delegate": _delegate,
}
