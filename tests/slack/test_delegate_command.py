"""`/ion delegate ROLE @person until DATE` read into its command, or refused in a sentence."""

from __future__ import annotations

from datetime import date

from bot.slack.command_parser import DateRef, DelegateCommand, ParseError, PersonRef, parse


def test_a_picked_mention_and_a_date_read_as_a_delegation() -> None:
    assert parse("delegate lead <@U0LOU|lou> until 2026-11-06") == DelegateCommand(
        "lead", PersonRef(user_id="U0LOU"), DateRef(on=date(2026, 11, 6))
    )


def test_until_may_be_left_out_and_a_weekday_is_a_date() -> None:
    assert parse("delegate lead <@U0LOU> friday") == DelegateCommand(
        "lead", PersonRef(user_id="U0LOU"), DateRef(weekday=4)
    )


def test_a_typed_at_name_or_a_bare_name_is_read_as_a_name_to_look_up() -> None:
    typed = parse("delegate lead @lou until friday")
    bare = parse("delegate lead Lou.Reed friday")
    assert typed == DelegateCommand("lead", PersonRef(name="lou"), DateRef(weekday=4))
    assert bare == DelegateCommand("lead", PersonRef(name="Lou.Reed"), DateRef(weekday=4))


def test_a_word_that_cannot_be_a_name_is_refused_with_what_to_do() -> None:
    parsed = parse("delegate lead <#C0ROLLOUT> until friday")
    assert isinstance(parsed, ParseError)
    assert "pick them from the @ menu" in str(parsed) and "Nothing was changed" in str(parsed)


def test_a_missing_date_names_what_is_missing() -> None:
    parsed = parse("delegate lead <@U0LOU>")
    assert isinstance(parsed, ParseError) and "missing" in str(parsed)
