"""parse_condition never fails in an unplanned way: any text gives a Condition or a located error."""

from __future__ import annotations

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
