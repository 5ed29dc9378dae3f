"""The engine takes a lane's move in exactly the states ``allowed_moves`` (what cards offer) names.

Each use case is asked for each move from a lane put in each state: an offered move is never refused
by the state table, and one not offered changes nothing (refused, or a no-op answer).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from bot.engine.errors import Refused
from bot.engine.records import StepLane, StepState
from bot.engine.rollout import Rollout
from bot.engine.states import Move, allowed_moves, why_not
from tests.engine.harness import CHANNEL, lee, make, sam

STEP, ENV = "day1.1", "staging"
TARGET = {
    Move.APPROVE: StepState.APPROVED,
    Move.REJECT: StepState.APPROVED,
    Move.RUN: StepState.RUNNING,
    Move.ROLLBACK: StepState.ROLLING_BACK,
    Move.SKIP: StepState.SKIPPED,
}
ASK: dict[Move, Callable[[Rollout], Awaitable[object]]] = {
    Move.APPROVE: lambda r: r.approve(CHANNEL, STEP, ENV, lee),
    Move.REJECT: lambda r: r.reject(CHANNEL, STEP, ENV, lee, "not now"),
    Move.RUN: lambda r: r.request_run(CHANNEL, STEP, ENV, sam),
    Move.ROLLBACK: lambda r: r.confirm_rollback(CHANNEL, f"{STEP}@{ENV}", sam),
    Move.SKIP: lambda r: r.skip(CHANNEL, STEP, ENV, "not needed", lee),
}
# Asked where they are not offered, these answer without refusing and move nothing.
NO_OPS = {(Move.APPROVE, StepState.APPROVED), (Move.ROLLBACK, StepState.ROLLED_BACK)}


@pytest.mark.parametrize("move", list(TARGET), ids=lambda m: m.value)
@pytest.mark.parametrize("state", list(StepState), ids=lambda s: s.value)
async def test_a_move_is_refused_by_the_state_table_exactly_where_it_is_not_offered(
    state: StepState, move: Move
) -> None:
    h = await make()
    run = await h.rollout.require_run(CHANNEL)
    lane = StepLane(run_id=run.id, step_id=STEP, environment=ENV, state=state)
    assert await h.store.put_lane(lane, None)
    refusal = None
    try:
        await ASK[move](h.rollout)
    except Refused as refused:
        refusal = refused.message
    by_table = why_not(lane, TARGET[move], str)
    if move in allowed_moves(state):
        assert refusal != by_table
        return
    after = await h.store.get_lane(run.id, STEP, ENV)
    assert after is not None and after.state is state
    if (move, state) in NO_OPS:
        assert refusal is None
    else:
        assert refusal == by_table


async def test_done_is_taken_only_while_the_lane_waits_for_a_person() -> None:
    h = await make()
    assert Move.DONE in allowed_moves(StepState.WAITING)
    assert [s for s in StepState if Move.DONE in allowed_moves(s)] == [StepState.WAITING]
    with pytest.raises(Refused, match="Nobody is waited for"):
        await h.rollout.done(CHANNEL, "day2.2", "1", None, sam)
    await h.run_step("day2.1", "production")
    plan = await h.rollout.request_run(CHANNEL, "day2.2", "production", sam)
    await h.rollout.approve(CHANNEL, "day2.2", "production", lee)
    waiting = await h.rollout.confirm_run(CHANNEL, "day2.2", "production", sam, plan.fingerprint)
    assert waiting.lane.state is StepState.WAITING
    outcome = await h.rollout.done(CHANNEL, "day2.2", "1", None, sam)
    assert outcome.task is not None, outcome.message
    assert (await outcome.task).lane.state is StepState.DONE
