"""The step card's buttons are the lanes' allowed moves (the engine's table), in every state."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.records import StepState
from bot.engine.states import Move, allowed_moves
from bot.runbook.models import Step
from bot.slack.blocks import Verb, parse_action_id, step_card
from bot.slack.blocks.actions import ActionValue
from bot.slack.blocks.views import CardMeta, LaneView, ManualView, StepCardView

from .conftest import make_step

META = CardMeta(run_id="run-1", card_version=4)
LANE_VERBS = {Verb.APPROVE: Move.APPROVE, Verb.REJECT: Move.REJECT, Verb.RUN: Move.RUN, Verb.DONE: Move.DONE}
LANE_VERBS[Verb.ROLLBACK] = Move.ROLLBACK


def one_environment_step() -> Step:
    return make_step().model_copy(update={"environments": ["staging"], "staging_first": False})


def card_of(step: Step, lanes: tuple[LaneView, ...]) -> list[dict[str, Any]]:
    waiting = tuple(lane.environment for lane in lanes if lane.state == "waiting")
    manual = (ManualView(1, "1", "Tell support", "anyone", waiting_in=waiting),)
    view = StepCardView(meta=META, step=step, lanes=lanes, manual=manual)
    blocks = step_card(view).blocks
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "button"]


def lane_moves(buttons: list[dict[str, Any]]) -> dict[str, set[Move]]:
    """Per environment, the moves its buttons ask for (Hold is the run's, not a lane's)."""
    found: dict[str, set[Move]] = {}
    for element in buttons:
        parsed = parse_action_id(element["action_id"])
        assert parsed is not None
        value = ActionValue.decode(element["value"])
        assert value is not None
        if parsed[0] is Verb.HOLD:
            continue
        found.setdefault(str(value.env), set()).add(LANE_VERBS[parsed[0]])
    return found


@pytest.mark.parametrize("state", list(StepState), ids=lambda s: s.value)
def test_a_lane_offers_exactly_the_moves_the_engine_accepts_in_its_state_but_skip(state: StepState) -> None:
    buttons = card_of(one_environment_step(), (LaneView("staging", state.value),))
    offered = lane_moves(buttons).get("staging", set())
    assert offered == set(allowed_moves(state)) - {Move.SKIP}
    assert [b["text"]["text"] for b in buttons][-1] == "Hold"


@pytest.mark.parametrize("staging", list(StepState), ids=lambda s: s.value)
@pytest.mark.parametrize("production", list(StepState), ids=lambda s: s.value)
def test_no_button_of_a_two_lane_card_asks_for_a_move_its_lane_cannot_make(
    staging: StepState, production: StepState
) -> None:
    states = {"staging": staging, "production": production}
    buttons = card_of(make_step(), (LaneView("staging", staging.value), LaneView("production", production.value)))
    offered = lane_moves(buttons)
    for env, moves in offered.items():
        assert moves <= set(allowed_moves(states[env])), env
    for move in (Move.RUN, Move.ROLLBACK, Move.DONE):
        wanted = {env for env, state in states.items() if move in allowed_moves(state)}
        assert {env for env, moves in offered.items() if move in moves} == wanted, move


def test_approve_and_reject_go_to_the_first_lane_awaiting_a_vote() -> None:
    lanes = (LaneView("staging", "approved"), LaneView("production", "pending"))
    offered = lane_moves(card_of(make_step(), lanes))
    assert offered == {"staging": {Move.RUN}, "production": {Move.APPROVE, Move.REJECT, Move.RUN}}


def test_an_approved_lane_alone_can_still_be_rejected() -> None:
    lanes = (LaneView("staging", "done"), LaneView("production", "approved"))
    buttons = card_of(make_step(), lanes)
    assert [b["text"]["text"] for b in buttons] == ["Reject", "Run on production", "Roll back staging", "Hold"]
    assert "on *production*" in buttons[0]["confirm"]["text"]["text"]


def test_a_running_lane_can_be_rolled_back_from_its_card_as_the_engine_allows() -> None:
    lanes = (LaneView("staging", "running"), LaneView("production", "pending"))
    names = [b["text"]["text"] for b in card_of(make_step(), lanes)]
    assert names == ["Approve", "Reject", "Run on production", "Roll back staging", "Hold"]
