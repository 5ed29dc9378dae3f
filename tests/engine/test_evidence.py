"""Reading what a person types after Done: a number in the action's unit (converted within its
kind), or a link; anything else is a sentence saying what is expected, with an example."""

from __future__ import annotations

import pytest

from bot.engine.errors import Refused
from bot.engine.evidence import judge, read
from bot.runbook.models import Manual, ManualValue

USAGE = "/ion done day3.1 bench VALUE"


def value(unit: str) -> ManualValue:
    return ManualValue(name="v", unit=unit)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("unit", "typed", "shown", "number"),
    [
        ("%", "67%", "67%", 67.0),
        ("%", "67.5 %", "67.5%", 67.5),
        ("%", "66", "66%", 66.0),
        ("MiB", "0.5 GiB", "512 MiB", 512.0),
        ("MB", "800 KB", "0.8 MB", 0.8),
        ("ms", "1.2 s", "1200 ms", 1200.0),
        ("count", "1,000", "1000", 1000.0),
    ],
)
def test_a_number_is_read_in_the_action_s_unit(unit: str, typed: str, shown: str, number: float) -> None:
    assert read(value(unit), typed, USAGE) == (shown, pytest.approx(number))


def test_a_link_is_kept_as_typed() -> None:
    assert read(value("link"), "https://wiki.example.dev/day3", USAGE) == ("https://wiki.example.dev/day3", None)


@pytest.mark.parametrize(
    ("unit", "typed", "said"),
    [
        ("%", "67 ms", "'67 ms' is a duration, but v is a percentage in %; write it like 67%: " + USAGE),
        ("MiB", "lots", "'lots' is not a number in MiB; write it like 512 MiB: " + USAGE),
        ("%", "67 parsecs", "'67 parsecs' is not a number in %; write it like 67%: " + USAGE),
        ("link", "wiki page", "'wiki page' is not a link; v wants one such as https://…: " + USAGE),
    ],
)
def test_anything_else_is_refused_with_what_is_expected(unit: str, typed: str, said: str) -> None:
    with pytest.raises(Refused) as refused:
        read(value(unit), typed, USAGE)
    assert refused.value.message == said


def test_the_accept_condition_judges_the_number() -> None:
    action = Manual.model_validate(
        {"kind": "manual", "instruction": "bench", "value": {"name": "hit", "unit": "%"}, "accept": "hit > 65"}
    )
    assert judge(action, 65.5) == (True, "'hit > 65' holds")
    assert judge(action, 65.0) == (False, "'hit > 65' does not hold")
