from __future__ import annotations

import io
from datetime import time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from bot.console.input_lines import (
    AdvanceBy,
    AdvanceTo,
    AsLine,
    BlankLine,
    ClickLine,
    HelpLine,
    QuitLine,
    SlashLine,
    TickLine,
    TypeLine,
    UnknownLine,
    parse_console_line,
)
from bot.console.render import EMOJI, emoji, interactive_elements, plain, render, render_text
from bot.slack.blocks import ActionValue, gate_card, run_confirm_modal, step_card
from bot.slack.blocks.views import CardMeta, GateCardView, StepCardView

from .conftest import make_gate, make_step, plan


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/ion step day2.1", SlashLine("step day2.1")),
        ("/ion", SlashLine("")),
        ("as Lee", AsLine("lee")),
        ("as @kim", AsLine("kim")),
        ("click Approve", ClickLine("Approve")),
        ("click Run on production @2", ClickLine("Run on production", 2)),
        ('click "Roll back staging"', ClickLine("Roll back staging")),
        ("tick 3", TickLine((3,))),
        ("tick 1, 2 5", TickLine((1, 2, 5))),
        ("type ion-mentoring-api", TypeLine("ion-mentoring-api")),
        ("advance 2h", AdvanceBy(timedelta(hours=2))),
        ("advance 1h 30m", AdvanceBy(timedelta(minutes=90))),
        ("advance to day3 17:00", AdvanceTo(3, time(17, 0))),
        ("advance to 09:30", AdvanceTo(None, time(9, 30))),
        ("help", HelpLine()),
        ("quit", QuitLine()),
        ("   ", BlankLine()),
    ],
)
def test_console_lines_are_read_into_typed_lines(line: str, expected: object) -> None:
    assert parse_console_line(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("dance", "I don't know 'dance'. Type /ion help for bot commands"),
        ("/deploy now", "The only slash command is /ion."),
        ("tick three", "tick needs checkbox numbers as shown on the card"),
        ("tick 0", "tick needs checkbox numbers"),
        ("advance soon", "advance needs a duration such as 2h"),
        ("advance to day3", "advance to needs a time"),
        ("advance to 25:00", "not a time of day"),
        ("click", "click needs a button label"),
        ("as", "as needs a person's name"),
    ],
)
def test_unreadable_console_lines_get_a_short_help(line: str, message: str) -> None:
    result = parse_console_line(line)
    assert isinstance(result, UnknownLine)
    assert message in result.message


@given(st.text())
def test_no_console_line_makes_the_reader_raise(line: str) -> None:
    parse_console_line(line)


def step_message() -> dict[str, object]:
    view = StepCardView(meta=CardMeta("run-1"), step=make_step(checklist=12), plans=(plan("production"),))
    return step_card(view).payload()


def test_checkboxes_are_numbered_across_blocks_and_buttons_drawn_in_brackets() -> None:
    text = render_text(step_message())
    lines = text.splitlines()
    assert lines[0] == "== day2.1 · Scale down Cloud Run minimum instances =="
    assert "   1. [ ] Check number 1 is fine" in lines
    assert "  12. [ ] Check number 12 is fine" in lines
    assert "[Approve] [Reject] [Run on staging] [Run on production] [Hold]" in lines
    assert "─" * 40 in lines


def test_interactive_elements_match_the_drawn_numbers() -> None:
    elements = interactive_elements(step_message())
    twelve = elements.checkboxes[11]
    assert twelve.number == 12 and twelve.text == "Check number 12 is fine"
    assert twelve.block_id == "tick:day2.1:1" and twelve.action_id == "ion:tick"
    assert ActionValue.decode(twelve.option["value"]) == ActionValue(run="run-1", step="day2.1", item="item-12")
    run = elements.button("run on prod")
    assert run is not None and run.action_id == "ion:run:production"
    assert elements.button("Run") is None  # ambiguous prefix
    assert elements.button("nothing") is None


def test_a_modal_is_drawn_with_its_input_and_buttons() -> None:
    modal = run_confirm_modal(make_step(), plan("production"), ActionValue(run="run-1"))
    text = render_text(modal)
    assert text.splitlines()[0] == "┌─ modal: Confirm run"
    assert "Type ion-mentoring-api to confirm: ____________   (answer with: type TEXT)" in text
    assert text.splitlines()[-1] == "└─ [Cancel] [Run on production]"


def test_mentions_links_and_entities_read_naturally() -> None:
    assert plain("<@U0LEE> see <https://x.example|the dashboard> &lt;3", {"U0LEE": "lee"}) == (
        "@lee see the dashboard (https://x.example) <3"
    )
    assert plain("*bold* and _italic_ in error_rate_pct") == "bold and italic in error_rate_pct"


def test_the_rich_renderer_prints_the_same_lines_without_reading_markup() -> None:
    gate = gate_card(GateCardView(meta=CardMeta("run-1"), gate=make_gate())).payload()
    buffer = io.StringIO()
    render(gate, Console(file=buffer, width=200, color_system=None))
    assert buffer.getvalue().rstrip("\n") == render_text(gate)
    assert "[YES - Proceed] [NO - Postpone]" in buffer.getvalue()


def test_every_emoji_code_is_drawn_and_text_without_a_colon_is_left_as_it_is() -> None:
    assert all(code.startswith(":") for code in EMOJI)  # what lets a text without ":" skip the codes
    text = " ".join(EMOJI)
    assert emoji(text) == " ".join(EMOJI.values())
    assert emoji("no codes here, 100% plain") == "no codes here, 100% plain"


def test_markup_is_read_the_same_whether_or_not_a_text_carries_each_marker() -> None:
    names = {"U1": "lee"}
    assert (
        plain("*bold* and _it_ and ~gone~ <@U1> <https://x.io|x> &amp;", names)
        == "bold and it and gone @lee x (https://x.io) &"
    )
    assert (
        plain("no markers: 2 * 3 = 6, snake_case stays, a~b", names) == "no markers: 2 * 3 = 6, snake_case stays, a~b"
    )
    assert plain("only *bold*", names) == "only bold"
