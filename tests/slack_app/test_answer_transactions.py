"""Issue 14: what one answer costs the store, counted in transactions rather than timed.

SQLite takes one writer at a time, so each write transaction of an answer is time every other
person's answer waits. The counts below are what the answer path is built to need; a change that
adds a transaction to it fails here, whatever the machine's speed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select

from bot.store.tables import DeliveryRow, OutboxRow
from tests.slack_app.conftest import CHANNEL, Slack, started

_WRITES = "ion.statements_written"  # bot/store/deliveries.py's per-connection count of writes


@dataclass
class Tally:
    """Committed transactions, split by whether they wrote anything, and the writes made before the
    reply reached Slack (the ones the person waits for)."""

    writes: int = 0
    reads: int = 0
    writes_before_reply: int = 0


@contextmanager
def tally(slack: Slack, user: str) -> Iterator[Tally]:
    """Count the store's commits while inside (bot/store/deliveries.py counts each connection's writes)."""
    engine = slack.bot.store.engine.sync_engine
    counted = Tally()
    said = len(slack.ephemerals(user))

    def on_begin(conn: Any) -> None:
        conn.info["tally.before"] = conn.info.get(_WRITES, 0)

    def on_commit(conn: Any) -> None:
        if conn.info.get(_WRITES, 0) != conn.info.pop("tally.before", 0):
            counted.writes += 1
            counted.writes_before_reply += len(slack.ephemerals(user)) == said
        else:
            counted.reads += 1

    event.listen(engine, "begin", on_begin)
    event.listen(engine, "commit", on_commit)
    try:
        yield counted
    finally:
        event.remove(engine, "begin", on_begin)
        event.remove(engine, "commit", on_commit)


async def answer(slack: Slack, text: str, user: str) -> tuple[Tally, list[str]]:
    said = len(slack.ephemerals(user))
    with tally(slack, user) as counted:
        status, _ = await slack.command(text, user)
        await slack.state.settle()
    assert status == 200
    return counted, slack.ephemerals(user)[said:]


async def test_a_refused_command_writes_once_before_its_reply_and_once_after(slack: Slack) -> None:
    """Its audit entry, its delivery's claim with the answer, and the reply's outbox row are one
    commit; the reply's delivered mark is the other (4 write and 4 read transactions before issue 14;
    the refusal's audit entry names the run the delivery read, without reading the channel again;
    the run and the delegations behind the sender's roles are one read, the request's first look)."""
    counted, answers = await answer(slack, "audit 5", "U0DANA")
    assert answers == ["There is no run in this channel; start one with /ion start."]
    assert (counted.writes_before_reply, counted.writes) == (1, 2), counted
    assert counted.reads == 1, counted  # the first look: the channel's run and the delegations together


async def test_an_answered_read_command_writes_once_before_its_reply_and_once_after(slack: Slack) -> None:
    """The reply's outbox row, held as it is written; then its delivered mark."""
    await started(slack)
    await slack.state.settle()
    counted, answers = await answer(slack, "audit 5", "U0DANA")
    assert len(answers) == 1 and answers[0].startswith("The newest"), answers
    assert (counted.writes_before_reply, counted.writes) == (1, 2), counted
    assert counted.reads <= 3, counted  # the channel's run, the delegations, the audit entries shown


async def test_the_refusal_its_claim_its_kept_answer_and_its_reply_are_written_together(slack: Slack) -> None:
    await answer(slack, "audit 5", "U0DANA")
    async with slack.bot.store.engine.connect() as connection:
        claims = (await connection.execute(select(DeliveryRow.user_id, DeliveryRow.answer))).all()
        replies = (await connection.execute(select(OutboxRow.channel, OutboxRow.delivered_at))).all()
    assert [(user, answer) for user, answer in claims] == [
        ("U0DANA", "There is no run in this channel; start one with /ion start.")
    ]
    assert len(replies) == 1 and replies[0][0] == CHANNEL and replies[0][1] is not None
