"""The `/ion` command language: text in, one typed command (or a helpful ParseError) out.

Pure syntax only. Whether a step, gate or runbook exists is the engine's question; here we only
make sure ids are well formed, and fix the forgivable slips ("day 2.1"). This is the entry; the
commands are in command_types, the grammar per command in command_grammar, the words it reads in
command_words (the names below are re-exported so callers import from here).
"""

from __future__ import annotations

from bot.runbook.suggest import did_you_mean
from bot.slack.command_grammar import USAGE, build, usage
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
    ParseError,
    PauseCommand,
    PersonRef,
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
from bot.slack.command_words import (
    ENV_ALIASES,
    KNOWN_ENVIRONMENTS,
    WEEKDAYS,
    BadWords,
    merge_spaced_step_ids,
    sentence,
    show,
)

__all__ = [
    "ENV_ALIASES",
    "KNOWN_ENVIRONMENTS",
    "USAGE",
    "WEEKDAYS",
    "ApproveCommand",
    "AuditCommand",
    "BacktestCommand",
    "Command",
    "CostCommand",
    "DateRef",
    "DelegateCommand",
    "DoneCommand",
    "FinishCommand",
    "GateCommand",
    "GoNoGoCommand",
    "HelpCommand",
    "IncidentCommand",
    "MetricsCommand",
    "NextCommand",
    "OverrideCommand",
    "ParseError",
    "PauseCommand",
    "PersonRef",
    "RecordCommand",
    "RejectCommand",
    "ReopenCommand",
    "ReportCommand",
    "ResumeCommand",
    "RollbackCommand",
    "RunCommand",
    "ScalingCommand",
    "SkipCommand",
    "StandupCommand",
    "StartCommand",
    "StatusCommand",
    "StepCommand",
    "TickCommand",
    "TodayCommand",
    "UntickCommand",
    "WaiveCommand",
    "parse",
]


def parse(text: str) -> Command | ParseError:
    """Read the text after `/ion`. Never raises: every mistake comes back as a ParseError."""
    words = merge_spaced_step_ids(text.split())
    if not words:
        return HelpCommand()
    name = words[0].lower()
    if name not in USAGE:
        hint = did_you_mean(name, USAGE)
        return ParseError(sentence(f"Unknown command '{show(words[0])}'{hint}"), hint="Type `/ion help` for the list.")
    try:
        return build(name, words[1:])
    except BadWords as bad:
        return ParseError(sentence(str(bad)), usage(name))
