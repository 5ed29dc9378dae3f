"""parse_condition never fails in an unplanned way: any text gives a Condition or a located error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.runbook.conditions import Condition, parse_condition
from bot.runbook.errors import ConditionSyntaxError

_PIECES = st.sampled_from(
    [
        "error_rate_pct",
        ">",
        ">=",
        "<",
        "==",
        "!=",
        "1",
        "0.5",
        "-",
        "+",
        "baseline",
        "for",
        "over",
        "5m",
        "1h30m",
        " ",
    ]
)


# Digit runs from one digit to far past what a float, a timedelta or int() of a string can hold.
_DIGITS = st.one_of(
    st.integers(min_value=0, max_value=10**40).map(str),
    st.text(alphabet="0123456789", min_size=1, max_size=5000),
)
_DURATIONS = st.lists(st.tuples(_DIGITS, st.sampled_from("dhms")).map("".join), min_size=1, max_size=3).map("".join)
_HUGE = st.builds(
    "error_rate_pct {} {}{}".format,
    st.sampled_from([">", "<=", "!="]),
    _DIGITS,
    st.one_of(st.just(""), st.builds(" {} {}".format, st.sampled_from(["for", "over"]), _DURATIONS)),
)


def _parses_or_locates(text: str) -> None:
    try:
        result = parse_condition(text)
    except ConditionSyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
    else:
        assert isinstance(result, Condition)
        assert parse_condition(str(result)).metric == result.metric


@given(st.text())
def test_any_text_parses_or_raises_a_located_syntax_error(text: str) -> None:
    _parses_or_locates(text)


@given(st.lists(_PIECES, max_size=8).map(" ".join))
def test_near_miss_conditions_parse_or_raise_a_located_syntax_error(text: str) -> None:
    _parses_or_locates(text)


@given(_HUGE)
def test_huge_numbers_and_durations_parse_or_raise_a_located_syntax_error(text: str) -> None:
    _parses_or_locates(text)


def test_a_window_past_any_clock_is_a_located_syntax_error() -> None:
    text = "error_rate_pct > 1 for 99999999999999999d"
    with pytest.raises(ConditionSyntaxError) as caught:
        parse_condition(text)
    assert caught.value.column == text.index("9999") + 1
