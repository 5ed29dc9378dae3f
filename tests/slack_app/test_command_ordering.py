"""Commands wait only for earlier work on the same card or lane: reads wait for nothing, and
commands on different steps of one channel do not queue behind each other."""

from __future__ import annotations

import pytest

from bot.slack.transport.ordering import command_order_key


@pytest.mark.parametrize("text", ["help", "status", "today", "next", "audit 5", "metrics", "scaling", "nonsense"])
def test_reading_and_unparsable_commands_wait_for_nobody(text: str) -> None:
    assert command_order_key("C1", text) is None


def test_commands_on_one_step_share_a_line_and_other_steps_have_their_own() -> None:
    run, approve = command_order_key("C1", "run day2.1 staging"), command_order_key("C1", "approve day2.1 staging")
    assert run == approve == "command:C1:day2.1"
    assert command_order_key("C1", "approve day3.1 production") == "command:C1:day3.1"
    assert command_order_key("C2", "run day2.1 staging") == "command:C2:day2.1"


def test_a_gate_tick_joins_the_gates_line() -> None:
    assert command_order_key("C1", "tick gonogo.day3 1") == "command:C1:gonogo.day3"


@pytest.mark.parametrize("text", ["start week17 2026-11-02", "pause", "resume", "incident db is slow", "gonogo"])
def test_commands_on_the_whole_run_keep_the_channels_order(text: str) -> None:
    assert command_order_key("C1", text) == "command:C1"
