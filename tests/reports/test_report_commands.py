"""The report commands behind the Slack app's one port: each goes to its own narrow service, as it was asked."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.errors import Refused
from bot.engine.ports import Actor
from bot.reports.commands import ReportCommands

LEE = Actor("U-LEE", "lee")


class Desk:
    """Each narrow service at once, writing down what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None:
        self.asked.append(("report", channel, day, actor.name))

    async def standup(self, channel: str, actor: Actor) -> None:
        self.asked.append(("standup", channel, actor.name))

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        self.asked.append(("metrics", channel, actor.name))
        return {"text": "Metrics now", "blocks": []}

    async def record_cost(self, channel: str, service: str, amount: object, actor: Actor) -> str:
        if amount == "junk":
            raise Refused("junk is not a monthly cost in dollars above zero. No cost was recorded.")
        self.asked.append(("cost", channel, service, amount, actor.name))
        return "Recorded"

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str:
        self.asked.append(("record", channel, item, value, note, actor.name))
        return "Recorded fact"

    async def scaling(self, channel: str, actor: Actor) -> str:
        self.asked.append(("scaling", channel, actor.name))
        return "No rules"


def commands(desk: Desk) -> ReportCommands:
    return ReportCommands(reports=desk, metrics_now=desk, costs=desk, facts=desk, scaling_status=desk)


async def test_every_command_reaches_its_service_with_its_words_and_returns_its_answer() -> None:
    desk = Desk()
    port = commands(desk)
    await port.daily_report("C1", 2, LEE)
    await port.standup("C1", LEE)
    assert await port.metrics("C1", LEE) == {"text": "Metrics now", "blocks": []}
    assert await port.record_cost("C1", "cache", "$290", LEE) == "Recorded"
    assert await port.record("C1", "zero-data-loss", "yes", "drill", LEE) == "Recorded fact"
    assert await port.scaling("C1", LEE) == "No rules"
    assert desk.asked == [
        ("report", "C1", 2, "lee"),
        ("standup", "C1", "lee"),
        ("metrics", "C1", "lee"),
        ("cost", "C1", "cache", "$290", "lee"),
        ("record", "C1", "zero-data-loss", "yes", "drill", "lee"),
        ("scaling", "C1", "lee"),
    ]


async def test_a_refusal_from_a_service_reaches_the_person_unchanged() -> None:
    desk = Desk()
    with pytest.raises(Refused, match="No cost was recorded"):
        await commands(desk).record_cost("C1", "cache", "junk", LEE)
    assert desk.asked == []
