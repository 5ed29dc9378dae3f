"""The narrow doors of the reports side: where reports go, and what a chat layer may ask of it.

Each on-demand command has its own Protocol, so a listener depends on the one it calls and a test
can hand it a small fake. ``ReportCommands`` (bot/reports/commands.py) bundles them for a chat
layer that wants them all behind one port.
"""

from __future__ import annotations

from typing import Any, Protocol

from bot.engine.ports import Actor


class ReportPoster(Protocol):
    """Where reports go: Slack (through the outbox), the console, or a test's recorder."""

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, dedupe_key: str) -> None:
        """Post once per ``dedupe_key``; a second call with the same key changes nothing."""
        ...

    async def upload(self, channel: str, filename: str, content: bytes, title: str) -> str:
        """Store a file for the channel; returns a permalink or a local path to mention in the text."""
        ...

    async def reply(self, channel: str, dedupe_key: str, text: str) -> None:
        """Post ``text`` in the thread of the report posted with ``dedupe_key`` (the channel when unknown)."""
        ...


class ReportsOnDemand(Protocol):
    """`/ion report [DAY]` and `/ion standup`: posted to the channel, as of their time."""

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None: ...

    async def standup(self, channel: str, actor: Actor) -> None: ...


class MetricsNow(Protocol):
    """`/ion metrics`: a chat.postMessage-shaped message (text, blocks) against baseline and target."""

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]: ...


class CostRecorder(Protocol):
    """`/ion cost SERVICE AMOUNT` (bot/engine/cost_recording.py): the sentence that says what was recorded."""

    async def record_cost(self, channel: str, service: str, amount: object, actor: Actor) -> str: ...


class FactRecorder(Protocol):
    """`/ion record ITEM VALUE [NOTE]` and the Record dialog: a quality target recorded by hand."""

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str: ...


class ScalingStatusAnswer(Protocol):
    """`/ion scaling`: the time-of-day rules in force now."""

    async def scaling(self, channel: str, actor: Actor) -> str: ...


class ClaimStore(Protocol):
    """One claim per scheduled post, so of several replicas exactly one posts a report or standup;
    declared here, by its consumer; bot/store implements it."""

    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        """True for exactly one caller per (job_key, run_id, local_date), across processes."""
        ...

    async def release_post(self, job_key: str, run_id: str, local_date: str) -> None:
        """Give a claim back after the post failed, so a later attempt (here or on a replica) can win it."""
        ...
