"""Exactly once per command, not per transaction of it: each mutating command, click and dialog of
issue 13 is cut off at its first store write, then (Slack's retry of the same delivery) at its
second, and so on until a delivery gets through. Every cut-off delivery must leave nothing of the
command on any table the bot keeps, and the delivery that gets through does the whole command,
once: a further retry changes nothing. Executions (run, rollback) are not here: their cloud calls
have snapshots, leases and reconciliation after a crash instead (tests/e2e/test_crash_recovery.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from bot.engine.deliveries import current_delivery
from bot.engine.records import StepLane
from tests.slack_app.conftest import CHANNEL, Slack
from tests.slack_app.test_exactly_once_per_delivery import (
    AGAIN,
    CASES,
    Case,
    command,
    kept_state,
    run_started,
    slack,
)
from tests.store.conftest import database_url, migrated_postgres, migrated_sqlite_template

__all__ = ["database_url", "migrated_postgres", "migrated_sqlite_template", "slack"]

WRITES = (  # every store method that writes what the bot keeps (not the outbox, not the deliveries)
    "create_run",
    "save_run",
    "put_lane",
    "claim_lane",
    "put_tick",
    "remove_tick",
    "add_waiver",
    "save_approval",
    "cast_vote",
    "save_gate",
    "save_execution",
    "resume_execution",
    "save_target",
    "append_audit",
    "add_incident",
    "open_alert",
    "update_alert",
    "save_alert",
    "put_value",
    "append_value",
    "delete_value",
    "claim_post",
)
EXECUTIONS = {"/ion run", "/ion rollback", "Run button", "Roll back button", "production run dialog"}
COMMANDS = [
    *(case for case in CASES if case.name not in EXECUTIONS),
    Case("/ion delegate", "U0LEE", run_started, command("delegate lead <@U0DANA|dana> until tomorrow")),
]


class Cutoff:
    """Kills the request at its ``at``-th store write (counted inside Slack deliveries only: a
    card's bookkeeping is no effect of the request)."""

    def __init__(self, slack: Slack, monkeypatch: pytest.MonkeyPatch) -> None:
        self.at: int | None = None
        self.writes = 0
        self.fired = False
        self.names: list[str] = []  # the writes of the last delivery, up to the cut
        for name in WRITES:
            monkeypatch.setattr(slack.bot.store, name, self._cut(name, getattr(slack.bot.store, name)))

    def arm(self, at: int) -> None:
        self.at, self.writes, self.fired, self.names = at, 0, False, []

    def _cut(self, name: str, write: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def cut(*args: Any, **kwargs: Any) -> Any:
            if current_delivery() is not None:
                self.writes += 1
                self.names.append(name)
                if self.writes == self.at:
                    self.fired = True
                    raise RuntimeError(f"the process died at write {self.at} of the request")
            return await write(*args, **kwargs)

        return cut


async def lanes_read_once(slack: Slack) -> None:
    """Every lane as its first read stores it (pending, as it was): a pending lane is no record of
    anything, so a command that reads one before its first live read (a plan) may store it first."""
    run = await slack.bot.store.open_run(CHANNEL)
    if run is None:
        return
    for day in slack.bot.runbook.days:
        for step in day.steps:
            for environment in step.environments:
                await slack.bot.store.put_lane(StepLane(run.id, step.id, environment), None)


@pytest.mark.parametrize("case", COMMANDS, ids=[c.name for c in COMMANDS])
async def test_a_command_cut_off_at_any_write_keeps_nothing_and_its_retry_does_it_all_once(
    slack: Slack, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    await case.setup(slack)
    send = await case.request(slack, case.user)
    await slack.state.settle()
    await lanes_read_once(slack)
    before = await kept_state(slack)
    cutoff = Cutoff(slack, monkeypatch)
    retry: int | None = None
    for at in range(1, 30):
        cutoff.arm(at)
        status, _ = await send(retry)
        await slack.state.settle()
        assert status == 200
        retry = at
        if not cutoff.fired:
            break
        assert await kept_state(slack) == before, f"cut off at {cutoff.names}, {case.name} kept part of itself"
    else:
        raise AssertionError(f"{case.name} never got through")
    done = await kept_state(slack)
    assert done != before, f"{case.name} did nothing once it got through"
    cutoff.arm(0)
    said = len(slack.ephemerals(case.user))
    await send(retry)
    await slack.state.settle()
    assert await kept_state(slack) == done
    assert any(AGAIN in answer for answer in slack.ephemerals(case.user)[said:])
