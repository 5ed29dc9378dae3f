"""Posting and re-drawing the bot's cards, and remembering where each card lives.

A card's (channel, ts) is kept in the KeyValueStore under ``slack.card.<kind>.<run>.<scope>``,
written when the outbox delivers it (now or later), so a restarted bot keeps updating the
same message. Every message gets a DRY RUN mark when the bot or the run only rehearses.

A card too long for one message goes out in parts; each part's (channel, ts) is kept under
``slack.part.<base>.<n>`` and each location knows its card's base (``slack.at.<channel>.<ts>``),
so an update, even one asked for at a later part (a button there), re-draws every part.
Updates are keyed by the message they re-draw: a newer one replaces an older one still waiting
in the outbox, so a late delivery never shows a stale card.
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.engine.deliveries import note_answer, outside_delivery
from bot.engine.ports import JSON, KeyValueStore
from bot.slack.blocks.kit import Message, context
from bot.slack.blocks.limits import FALLBACK_TEXT, clamp
from bot.slack.blocks.mrkdwn import Mrkdwn, escape
from bot.slack.delivery.outbox import EPHEMERAL, Outbox, Staged
from bot.slack.delivery.ports import OutboxMessage

DRY_RUN_MARK = "DRY RUN"
_TRACK = "track|"  # a tracked message's first part: track|<track>|<base>
_PART = "part|"  # a tracked message's later parts: part|<base>|<n>
UNUSED_PART = "(The card above is shorter now; this part of it is no longer used.)"


def card_key(kind: str, run_id: str, scope: str) -> str:
    return f"slack.card.{kind}.{run_id}.{scope}"


def _ephemeral_key() -> str:
    return f"ephemeral|{uuid.uuid4().hex}"  # a reply is its own message: nothing to deduplicate


def _at_key(channel: str, ts: str) -> str:
    return f"slack.at.{channel}.{ts}"


def _part_key(base: str, n: int) -> str:
    return f"slack.part.{base}.{n}"


def _post_key(track: str | None, base: str, n: int) -> str:
    """The outbox key of part ``n`` of a post; a tracked post's keys tell ``_remember`` what to keep."""
    if track is None:
        return f"post|{base}|{n}"
    return f"{_TRACK}{track}|{base}" if n == 0 else f"{_PART}{base}|{n}"


def mark_dry_run(message: Message) -> Message:
    """The DRY RUN mark on the notification text and at the top of the blocks, unless already there."""
    text = message.text if DRY_RUN_MARK in message.text else f"[{DRY_RUN_MARK}] {message.text}"
    blocks = message.blocks
    if not any(DRY_RUN_MARK in str(block) for block in blocks):
        blocks = [context(f"*{DRY_RUN_MARK}*: nothing is changed; the bot only shows what it would do."), *blocks]
    return Message(text, blocks)


def text_message(text: str) -> Message:
    """A plain line as a message; ``text`` is bot-made but may quote people, so it is escaped."""
    # the notification text too: Slack honours <!channel> there as well. Mrkdwn escaped its quoted parts already.
    shown = text if isinstance(text, Mrkdwn) else escape(text)
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
        first part's ts (and makes every part re-drawable by ``update``). Returns the first part's
        outbox record."""
        first: OutboxMessage | None = None
        base = key or uuid.uuid4().hex
        for n, part in enumerate(message.parts()):
            args: dict[str, JSON] = {"channel": channel, **self._args(part, dry_run)}
            if thread_ts:
                args["thread_ts"] = thread_ts
                if broadcast:
                    args["reply_broadcast"] = True
            sent = await self._outbox.send("chat.postMessage", args, _post_key(track, base, n))
            first = first or sent
        assert first is not None  # parts() always returns at least one message
        return first

    async def update(self, channel: str, ts: str, message: Message, *, dry_run: bool = False) -> OutboxMessage:
        """Re-draw the card that (channel, ts) is a part of, every part of it: each in the message
        that holds it, else posted anew in the card's thread; parts it no longer needs say so.
        Returns the first part's outbox record."""
        parts = message.parts()
        at = await self._kv.get_value(_at_key(channel, ts))
        known = at if isinstance(at, dict) else {}
        base = str(known.get("base") or f"{channel}.{ts}")  # a card posted untracked: keyed by location
        first_at = await self.where(_part_key(base, 0)) or (channel, ts)  # (channel, ts) may be a later part
        first = await self._redraw(*first_at, parts[0], dry_run)
        thread = str(known.get("thread_ts") or first_at[1])
        for n, part in enumerate(parts[1:], start=1):
            where = await self.where(_part_key(base, n))
            if where is not None:
                await self._redraw(*where, part, dry_run)
                continue
            args: dict[str, JSON] = {"channel": first_at[0], "thread_ts": thread, **self._args(part, dry_run)}
            sent = await self._outbox.send("chat.postMessage", args, f"{_PART}{base}|{n}")
            if sent.delivered_ts and sent.payload.get("args") != args:  # posted before, not remembered now
                await self._redraw(sent.channel, sent.delivered_ts, part, dry_run)
        n = len(parts)
        while (where := await self.where(_part_key(base, n))) is not None:
            await self._redraw(*where, text_message(UNUSED_PART), dry_run)
            with outside_delivery():  # bookkeeping: a longer card later finds the part by its post key
                await self._kv.delete_value(_part_key(base, n))
            n += 1
        return first

    async def _redraw(self, channel: str, ts: str, part: Message, dry_run: bool) -> OutboxMessage:
        """chat.update keyed by the message: a newer update replaces an older one still queued."""
        args: dict[str, JSON] = {"channel": channel, "ts": ts, **self._args(part, dry_run)}
        return await self._outbox.send("chat.update", args, f"update|{channel}|{ts}", replace=True)

    async def ephemeral(self, channel: str, user: str, message: Message, *, dry_run: bool = False) -> None:
        await self._outbox.send(EPHEMERAL, self._ephemeral_args(channel, user, message, dry_run), _ephemeral_key())

    def _ephemeral_args(self, channel: str, user: str, message: Message, dry_run: bool) -> dict[str, JSON]:
        return {"channel": channel, "user": user, **self._args(message.parts()[0], dry_run)}

    async def say(self, channel: str, user: str, text: str, *, dry_run: bool = False) -> None:
        """An ephemeral sentence to one person (the first one is what a redelivery of the request
        being handled is answered with)."""
        note_answer(user, text)
        await self.ephemeral(channel, user, text_message(text), dry_run=dry_run)

    async def stage_say(self, channel: str, user: str, text: str, *, dry_run: bool = False) -> Staged:
        """``say``, written with the claim the current delivery is about to make (a refusal's audit
        entry): one commit for the request's record and its answer. Then ``send_staged`` it."""
        note_answer(user, text)
        args = self._ephemeral_args(channel, user, text_message(text), dry_run)
        return await self._outbox.stage(EPHEMERAL, args, _ephemeral_key())

    async def send_staged(self, staged: Staged) -> None:
        await self._outbox.send_staged(staged)

    def unstage(self, staged: Staged) -> None:
        """A staged sentence that will not be said after all."""
        self._outbox.unstage(staged)

    async def where(self, track: str) -> tuple[str, str] | None:
        """(channel, ts) of a tracked message, once delivered."""
        found = await self._kv.get_value(track)
        if isinstance(found, dict) and found.get("ts") and found.get("channel"):
            return str(found["channel"]), str(found["ts"])
        return None

    async def _remember(self, message: OutboxMessage, ts: str | None) -> None:
        """Where a tracked message's parts went: the track learns the first, and every part's
        location names the card's base, so ``update`` from any part finds all of them.
        Bookkeeping, not an effect of the request that posted it: it never claims its delivery."""
        if not ts:
            return
        with outside_delivery():
            await self._remember_at(message, ts)

    async def _remember_at(self, message: OutboxMessage, ts: str) -> None:
        if message.dedupe_key.startswith(_TRACK):
            track, base = message.dedupe_key[len(_TRACK) :].rsplit("|", 1)
            n = "0"
            await self._kv.put_value(track, {"channel": message.channel, "ts": ts})
        elif message.dedupe_key.startswith(_PART):
            base, n = message.dedupe_key[len(_PART) :].rsplit("|", 1)
        else:
            return
        args = message.payload.get("args")
        thread = args.get("thread_ts") if isinstance(args, dict) else None
        await self._kv.put_value(_part_key(base, int(n)), {"channel": message.channel, "ts": ts})
        await self._kv.put_value(_at_key(message.channel, ts), {"base": base, "thread_ts": thread})
