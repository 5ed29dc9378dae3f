from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.slack.command_parser import (
    USAGE,
    ApproveCommand,
    AuditCommand,
    CostCommand,
    DateRef,
    FinishCommand,
    GoNoGoCommand,
    HelpCommand,
    IncidentCommand,
    ParseError,
    RejectCommand,
    ReopenCommand,
    ReportCommand,
    RollbackCommand,
    RunCommand,
    SkipCommand,
    StartCommand,
    StatusCommand,
    StepCommand,
    TickCommand,
    UntickCommand,
    WaiveCommand,
    parse,
)

_words = st.sampled_from([*USAGE, "day2.1", "day", "2.1", "production", "staging", "prod", "$950", "last"])


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_no_text_makes_the_parser_raise(text: str) -> None:
    result = parse(text)
    assert isinstance(result, ParseError) or type(result).__name__.endswith("Command")


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_words, st.text(max_size=12)), max_size=6))
def test_near_miss_command_lines_give_a_command_or_a_readable_error(words: list[str]) -> None:
    result = parse(" ".join(words))
    if isinstance(result, ParseError):
        text = str(result)
        assert "Nothing was changed." in text
        if result.usage:
            assert text.endswith(f"Usage: `{result.usage}`")
        assert len(text) < 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", HelpCommand()),
        ("help run", HelpCommand("run")),
        ("status", StatusCommand()),
        ("finish week 17 complete", FinishCommand("week 17 complete")),
        ("finish", FinishCommand()),
        ("STEP Day2.1", StepCommand("day2.1")),
        ("step day 2.1", StepCommand("day2.1")),
        ("step 2.1", StepCommand("day2.1")),
        ("run day2.1", RunCommand("day2.1", None)),
        ("run day 2.1 prod", RunCommand("day2.1", "production")),
        ("approve day10.3 staging", ApproveCommand("day10.3", "staging")),
        ("reject day2.1 error rate is   too high", RejectCommand("day2.1", "error rate is too high")),
        ("skip day4.2 done by hand", SkipCommand("day4.2", "done by hand")),
        ("gonogo", GoNoGoCommand(None)),
        ("gonogo day3", GoNoGoCommand("gonogo.day3")),
        ("gonogo preflight", GoNoGoCommand("preflight")),
        ("reopen day3 error budget   recovered", ReopenCommand("gonogo.day3", "error budget recovered")),
        ("reopen gonogo.day3 fixed", ReopenCommand("gonogo.day3", "fixed")),
        ("REOPEN Preflight rerun", ReopenCommand("preflight", "rerun")),
        ("rollback", RollbackCommand(None)),
        ("rollback last", RollbackCommand(None)),
        ("rollback day5.1", RollbackCommand("day5.1")),
        ("report", ReportCommand(None)),
        ("report day3", ReportCommand(3)),
        ("audit", AuditCommand(20)),
        ("audit 50", AuditCommand(50)),
        ("incident <!channel> API is down", IncidentCommand("<!channel> API is down")),
        ("cost cloud-run $950", CostCommand("cloud-run", Decimal("950.00"))),
        ("cost cloud-sql 1,200.5", CostCommand("cloud-sql", Decimal("1200.50"))),
        ("tick day2.1 pool-size", TickCommand("day2.1", "pool-size")),
        ("untick gonogo.day3 trained", UntickCommand("gonogo.day3", "trained")),
        ("waive preflight printed nobody prints", WaiveCommand("preflight", "printed", "nobody prints")),
        ("start week17", StartCommand("week17", DateRef())),
        ("start week17 2025-10-27", StartCommand("week17", DateRef(on=date(2025, 10, 27)))),
        ("start week17 monday", StartCommand("week17", DateRef(weekday=0))),
    ],
)
def test_well_formed_commands_parse_to_their_typed_command(text: str, expected: object) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "stauts",
            "Unknown command 'stauts'; did you mean status, start or standup? Type `/ion help` for the list.",
        ),
        ("frobnicate", "Unknown command 'frobnicate'. Type `/ion help` for the list."),
        ("status now", "'status' takes no arguments; I don't know what to do with 'now'."),
        ("step", "'step' is missing ID."),
        ("step day2", "'day2' names a day, not a step; step ids look like day2.1."),
        (
            "step day2.x",
            "'day2.x' is not a step id; step ids look like day2.1 (day number, dot, step number).",
        ),
        ("run day2.1 prodution", "Unknown environment 'prodution'; did you mean production?"),
        ("reject day2.1", "'reject' is missing REASON."),
        ("waive day2.1 pool", "'waive' is missing REASON."),
        ("cost cloud-run lots", "'lots' is not an amount in dollars; write it like $950 or 950.00."),
        ("cost cloud-run 9.999", "'9.999' is not an amount in dollars; write it like $950 or 950.00."),
        ("start week17 2025-02-30", "'2025-02-30' is not a real date; check the month and day."),
        (
            "start week17 someday",
            "'someday' is not a date; use YYYY-MM-DD (2025-10-27), today, tomorrow or a weekday (monday).",
        ),
        ("audit 0", "'0' is not a number of entries; give a whole number from 1 to 500."),
        (
            "gonogo soon",
            "'soon' is not a gate id; gate ids look like preflight or gonogo.day3 (or just day3).",
        ),
        ("help stat", "There is no command 'stat'; did you mean start, status or standup?"),
        ("reopen", "'reopen' is missing GATE."),
        ("reopen day3", "'reopen' is missing REASON."),
        (
            "reopen day3.1 fixed",
            "'day3.1' is not a gate id; gate ids look like preflight or gonogo.day3 (or just day3).",
        ),
    ],
)
def test_mistakes_come_back_as_sentences_with_a_suggestion(text: str, message: str) -> None:
    result = parse(text)
    assert isinstance(result, ParseError)
    assert " ".join(part for part in (result.message, result.hint) if part) == message


def test_a_parse_error_says_nothing_changed_and_shows_the_usage_line() -> None:
    result = parse("run day2")
    assert isinstance(result, ParseError)
    assert str(result) == (
        "'day2' names a day, not a step; step ids look like day2.1. Nothing was changed. "
        "Usage: `/ion run ID [staging|production]`"
    )


def test_a_weekday_start_date_resolves_to_the_next_such_day() -> None:
    tuesday = date(2025, 10, 28)
    assert DateRef(weekday=0).resolve(tuesday) == date(2025, 11, 3)
    assert DateRef(weekday=1).resolve(tuesday) == tuesday
    assert DateRef(days_from_today=1).resolve(tuesday) == date(2025, 10, 29)


def test_every_command_in_the_usage_table_parses_when_given_its_example_arguments() -> None:
    examples = {
        "start": "start week17",
        "step": "step day1.1",
        "run": "run day1.1",
        "approve": "approve day1.1",
        "reject": "reject day1.1 no",
        "incident": "incident it broke",
        "cost": "cost run 1",
        "tick": "tick day1.1 a",
        "untick": "untick day1.1 a",
        "waive": "waive day1.1 a why",
        "skip": "skip day1.1 why",
        "reopen": "reopen day3 why",
        "override": "override day3 1 the spike was a probe",
        "done": "done day3.1 cache-benchmark 67%",
        "record": "record zero-data-loss yes",
        "delegate": "delegate lead <@U0LOU|lou> until 2026-11-06",
    }
    for name in USAGE:
        result = parse(examples.get(name, name))
        assert not isinstance(result, ParseError), (name, result)
