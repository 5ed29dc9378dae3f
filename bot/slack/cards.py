"""Posting and re-drawing the bot's cards, and remembering where each card lives.

A card's (channel, ts) is kept in the KeyValueStore under ``slack.card.<kind>.<run>.<scope>``,
written when the outbox delivers it (now or later), so a restarted bot keeps updating the
same message. Every message gets a DRY RUN mark when the bot or the run only rehearses.
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.engine.ports import JSON, KeyValueStore, OutboxMessage
from bot.slack.blocks.kit import Message, context
from bot.slack.delivery import Outbox
from bot.slack.limits import FALLBACK_TEXT, clamp
from bot.slack.mrkdwn import escape

DRY_RUN_MARK = "DRY RUN"
_TRACK = "track|"


def card_key(kind: str, run_id: str, scope: str) -> str:
    return f"slack.card.{kind}.{run_id}.{scope}"


def mark_dry_run(message: Message) -> Message:
    """The DRY RUN mark on the notification text and at the top of the blocks, unless already there."""
    text = message.text if DRY_RUN_MARK in message.text else f"[{DRY_RUN_MARK}] {message.text}"
    blocks = message.blocks
    if not any(DRY_RUN_MARK in str(block) for block in blocks):
        blocks = [context(f"*{DRY_RUN_MARK}*: nothing is changed; the bot only shows what it would do."), *blocks]
    return Message(text, blocks)


def text_message(text: str) -> Message:
    """A plain line as a message; ``text`` is bot-made but may quote people, so it is escaped."""
    shown = escape(text)  # the notification text too: Slack honours <!channel> there as well
    return Message(shown, [{"type": "section", "text": {"type": "mrkdwn", "text": clamp(shown, 3000) or " "}}])


class Poster:
    """Chat messages out through the outbox; ``dry_run`` is the bot-wide setting."""

    def __init__(self, outbox: Outbox, kv: KeyValueStore, dry_run: bool) -> None:
        self._outbox = outbox
        self._kv = kv
        self._dry_run = dry_run
        outbox.on_delivered(self._remember)

    def _args(self, message: Message, dry_run: bool) -> dict[str, Any]:
        if dry_run or self._dry_run:
            message = mark_dry_run(message)
        return {"text": clamp(message.text, FALLBACK_TEXT), "blocks": message.blocks}

    async def post(
        self,
        channel: str,
        message: Message,
        *,
        dry_run: bool = False,
        thread_ts: str | None = None,
        broadcast: bool = False,
        track: str | None = None,
        key: str | None = None,
    ) -> OutboxMessage:
        """Post ``message`` (split into parts when long); ``track`` names the KV key that learns the
        first part's ts. Returns the first part's outbox record."""
        first: OutboxMessage | None = None
        base = key or uuid.uuid4().hex
        for n, part in enumerate(message.parts()):
            args: dict[str, JSON] = {"channel": channel, **self._args(part, dry_run)}
            if thread_ts:
                args["thread_ts"] = thread_ts
                if broadcast:
                    args["reply_broadcast"] = True
            dedupe = f"{_TRACK}{track}|{base}" if track and n == 0 else f"post|{base}|{n}"
            sent = await self._outbox.send("chat.postMessage", args, dedupe)
            first = first or sent
        assert first is not None  # parts() always returns at least one message
        return first

    async def update(self, channel: str, ts: str, message: Message, *, dry_run: bool = False) -> OutboxMessage:
        part = message.parts()[0]
        args: dict[str, JSON] = {"channel": channel, "ts": ts, **self._args(part, dry_run)}
        return await self._outbox.send("chat.update", args, f"update|{uuid.uuid4().hex}")

    async def ephemeral(self, channel: str, user: str, message: Message, *, dry_run: bool = False) -> None:
        part = message.parts()[0]
        args: dict[str, JSON] = {"channel": channel, "user": user, **self._args(part, dry_run)}
        await self._outbox.send("chat.postEphemeral", args, f"ephemeral|{uuid.uuid4().hex}")

    async def say(self, channel: str, user: str, text: str, *, dry_run: bool = False) -> None:
        """An ephemeral sentence to one person."""
        await self.ephemeral(channel, user, text_message(text), dry_run=dry_run)

    async def where(self, track: str) -> tuple[str, str] | None:
        """(channel, ts) of a tracked message, once delivered."""
        found = await self._kv.get_value(track)
        if isinstance(found, dict) and found.get("ts") and found.get("channel"):
            return str(found["channel"]), str(found["ts"])
        return None

    async def _remember(self, message: OutboxMessage, ts: str | None) -> None:
        if ts and message.dedupe_key.startswith(_TRACK):
            track = message.dedupe_key[len(_TRACK) :].rsplit("|", 1)[0]
            await self._kv.put_value(track, {"channel": message.channel, "ts": ts})
