"""Issue 17 item 13: a reply that quotes what a person typed escapes only their words, not the bot's own code."""

from __future__ import annotations

from bot.slack.blocks.mrkdwn import mrkdwn_format
from bot.slack.command_parser import ParseError, parse
from bot.slack.delivery.cards import text_message
from bot.slack.listeners.commands import parse_error_text

LOOK_ALIKE_BACKTICK = "\u02cb"


def test_an_unknown_command_says_type_slash_ion_help_in_real_backticks() -> None:
    parsed = parse("stauts")
    assert isinstance(parsed, ParseError)
    shown = text_message(parse_error_text(parsed)).text
    assert "Type `/ion help` for the list." in shown
    assert LOOK_ALIKE_BACKTICK not in shown


def test_the_typed_word_is_still_escaped_where_it_is_quoted() -> None:
    parsed = parse("`*boom*`<!here>")
    assert isinstance(parsed, ParseError)
    shown = text_message(parse_error_text(parsed)).text
    quoted = shown.split("'")[1]
    assert "`" not in quoted and "*" not in quoted and "<" not in quoted
    assert shown.endswith("Type `/ion help` for the list. Nothing was changed.")


def test_a_usage_line_is_shown_as_code_not_look_alike_backticks() -> None:
    parsed = parse("run")
    assert isinstance(parsed, ParseError) and parsed.usage
    shown = text_message(parse_error_text(parsed)).text
    assert f"Usage: `{parsed.usage}`" in shown and LOOK_ALIKE_BACKTICK not in shown


def test_mrkdwn_format_escapes_only_the_quoted_parts() -> None:
    said = mrkdwn_format("No step '{typed}'. Try `/ion status`.", typed="day9`9 *x*")
    assert said == "No step 'day9ˋ9 ∗x∗'. Try `/ion status`."
    assert text_message(said).text == said
