from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.slack.blocks.mrkdwn import code, escape, mention_group, mention_user, who

INJECTIONS = [
    "<!channel> deploy now",
    "<!here|here>",
    "<@U024BE7LH> owes me",
    "<!subteam^S0ONCALL> wake up",
    "<https://evil.example|click for the dashboard>",
    "<#C012AB3CD>",
    "&lt;!channel&gt;",
]


@pytest.mark.parametrize("text", INJECTIONS)
def test_escaped_text_contains_no_slack_control_sequence(text: str) -> None:
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert "&lt;" in out or "&amp;" in out


def test_ampersands_are_escaped_before_angle_brackets_so_entities_cannot_be_smuggled() -> None:
    assert escape("&lt;!channel&gt;") == "&amp;lt;!\u200bchannel&amp;gt;"
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"


@pytest.mark.parametrize("text", ["@here now", "@channel", "@Everyone listen", "!here"])
def test_mass_mentions_are_broken_by_a_zero_width_space(text: str) -> None:
    out = escape(text)
    assert re.search(r"[@!](here|channel|everyone)\b", out, re.IGNORECASE) is None
    assert "\u200b" in out


@pytest.mark.parametrize(
    ("text", "marker"),
    [("*bold*", "*"), ("_italic_", "_"), ("~strike~", "~"), ("`code`", "`"), ("```x```", "`")],
)
def test_formatting_markers_are_swapped_for_look_alikes(text: str, marker: str) -> None:
    out = escape(text)
    assert marker not in out
    assert len(out) == len(text)


def test_snake_case_identifiers_keep_their_underscores() -> None:
    assert escape("error_rate_pct > 1") == "error_rate_pct &gt; 1"


@given(st.text())
def test_no_typed_text_survives_escaping_with_a_control_character(text: str) -> None:
    out = escape(text)
    assert "<" not in out and ">" not in out
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)
    assert not re.search(r"(?<![0-9A-Za-z])[*~`]|[*~`](?![0-9A-Za-z])", out)


def test_code_spans_cannot_be_closed_early() -> None:
    assert code("min `3` <!here>") == "`min ˋ3ˋ &lt;!here&gt;`"


def test_mentions_are_made_only_from_real_ids() -> None:
    assert mention_user("U0LEE") == "<@U0LEE>"
    assert mention_group("S0ONCALL") == "<!subteam^S0ONCALL>"
    with pytest.raises(ValueError, match="not a Slack user id"):
        mention_user("lee> <!channel")
    with pytest.raises(ValueError, match="not a Slack user-group id"):
        mention_group("here")


def test_who_mentions_ids_and_escapes_names() -> None:
    assert who("U0LEE") == "<@U0LEE>"
    assert who("<!channel>") == "&lt;!\u200bchannel&gt;"
    assert who(None) == "someone"
