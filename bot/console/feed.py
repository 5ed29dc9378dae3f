"""What the bot said since the last line, read from the fake Web API's record, as numbered cards.

The console needs two things from every call the bot makes: something to draw (in order),
and the state to click on later (the newest payload of each message, the open modal).
``Feed.take`` turns new recorded calls into ``Entry`` objects and keeps that state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.console.ports import RecordedCall, SlackRecord
from bot.console.render import ButtonRef, Elements, interactive_elements

JSONDict = dict[str, Any]
RESPONSE_URL = "response_url"  # the method name recorded for replies POSTed to a response_url
QUIET_METHODS = frozenset({"auth.test", "users.info", "conversations.info", "usergroups.users.list"})


@dataclass
class Card:
    """A message as the console numbers it (``@N``); ``payload`` is its newest text and blocks."""

    number: int
    channel: str
    ts: str | None
    payload: JSONDict
    ephemeral: bool = False
    for_user: str | None = None

    @property
    def elements(self) -> Elements:
        return interactive_elements(self.payload)

    def button(self, label: str) -> ButtonRef | None:
        """The button named ``label``; a label Slack shows cut short ("YES - Proceed…") also matches in full."""
        found = self.elements.button(label)
        if found is not None:
            return found
        wanted = label.strip().lower()
        cut = [b for b in self.elements.buttons if b.label.endswith("…") and wanted.startswith(b.label[:-1].lower())]
        return cut[0] if len(cut) == 1 else None

    def element(self, block_id: str, action_id: str) -> Mapping[str, Any] | None:
        """The raw element (to read its confirm dialog) drawn with these ids."""
        for block in self.payload.get("blocks", []) or []:
            if str(block.get("block_id", "")) != block_id:
                continue
            candidates = list(block.get("elements", []))
            if isinstance(block.get("accessory"), Mapping):
                candidates.append(block["accessory"])
            for element in candidates:
                if element.get("action_id") == action_id:
                    found: Mapping[str, Any] = element
                    return found
        return None


@dataclass(frozen=True)
class Entry:
    """One thing to show: a title line (``@3 posted``) and the message or view to draw."""

    method: str
    title: str
    payload: JSONDict
    raw: JSONDict = field(default_factory=dict)
    previous: JSONDict | None = None  # an updated card as it was drawn before: the console shows what changed

    @property
    def visible(self) -> bool:
        """Lookups (auth.test, users.info) are not drawn; everything the bot said is."""
        return bool(self.title)


def has_input(view: Mapping[str, Any]) -> bool:
    """A dialog that asks for text (a typed confirmation, a reason), not one that only says something."""
    return any(isinstance(b, Mapping) and b.get("type") == "input" for b in view.get("blocks") or [])


def message_of(payload: Mapping[str, Any]) -> JSONDict:
    """Only the drawable part of a call: text, blocks, and a view's own fields."""
    return {k: payload[k] for k in ("text", "blocks") if k in payload}


class Feed:
    """Reads ``api.recorded`` from where it left off; remembers cards and the newest open view."""

    def __init__(self, api: SlackRecord, names: Mapping[str, str] | None = None) -> None:
        self.api = api
        self.names = dict(names or {})
        self.cards: list[Card] = []
        self.views: list[JSONDict] = []
        self._seen = 0
        self._message_keys = 0
        self._by_ts: dict[tuple[str, str], Card] = {}

    def take(self) -> list[Entry]:
        """Every call recorded since the previous ``take``, oldest first, as entries to draw."""
        calls = self.api.recorded[self._seen :]
        self._seen += len(calls)
        entries: list[Entry] = []
        for call in calls:
            entries.append(self._read(call))
        return entries

    def newest_with_button(self, label: str, number: int | None) -> Card | None:
        pool = [c for c in self.cards if number is None or c.number == number]
        for card in reversed(pool):
            if card.button(label) is not None:
                return card
        return None

    def newest_with_checkboxes(self) -> Card | None:
        for card in reversed(self.cards):
            if card.elements.checkboxes:
                return card
        return None

    def card(self, number: int) -> Card | None:
        return next((c for c in self.cards if c.number == number), None)

    # --- reading one call ------------------------------------------------------------------

    def _new_card(self, channel: str, ts: str | None, payload: JSONDict, **kw: Any) -> Card:
        card = Card(len(self.cards) + 1, channel, ts, payload, **kw)
        self.cards.append(card)
        if ts is not None:
            self._by_ts[(channel, ts)] = card
        return card

    def _posted_ts(self, channel: str) -> str | None:
        """The ts the fake gave the next posted message (its messages dict keeps posting order)."""
        keys = list(self.api.messages)
        while self._message_keys < len(keys):
            key = keys[self._message_keys]
            self._message_keys += 1
            if key[0] == channel:
                return key[1]
        return None

    def _read(self, call: RecordedCall) -> Entry:
        method, payload = call.method, call.payload
        if method in QUIET_METHODS or method == "files.getUploadURLExternal":
            return Entry(method, "", {}, payload)
        if method == "chat.postMessage":
            channel = str(payload.get("channel", ""))
            card = self._new_card(channel, self._posted_ts(channel), message_of(payload))
            thread = payload.get("thread_ts")
            parent = self._by_ts.get((channel, str(thread))) if thread else None
            where = f" in the thread of @{parent.number}" if parent else ""
            return Entry(method, f"@{card.number} posted{where}", card.payload, payload)
        if method == "chat.update":
            key = (str(payload.get("channel", "")), str(payload.get("ts", "")))
            updated = self._by_ts.get(key)
            if updated is None:
                return Entry(method, "a message was updated", message_of(payload), payload)
            card = updated
            before = card.payload
            card.payload = {**card.payload, **message_of(payload)}
            return Entry(method, f"@{card.number} updated", card.payload, payload, before)
        if method == "chat.postEphemeral":
            user = str(payload.get("user", ""))
            card = self._new_card(str(payload.get("channel", "")), None, message_of(payload), ephemeral=True)
            card.for_user = user
            who = self.names.get(user, user)
            return Entry(method, f"@{card.number} only visible to {who}", card.payload, payload)
        if method == RESPONSE_URL:
            return self._response(payload)
        if method in ("views.open", "views.push", "views.update"):
            view = payload.get("view")
            if isinstance(view, dict):
                self.views.append(dict(view))
                what = "the dialog now shows" if method == "views.update" else "a dialog opened"
                typed = " (answer with: type TEXT)" if has_input(view) else ""
                return Entry(method, what + typed, dict(view), payload)
            return Entry(method, "", {}, payload)
        if method == "views.publish":
            view = payload.get("view")
            return Entry(method, "App Home updated", dict(view) if isinstance(view, dict) else {}, payload)
        if method == "files.completeUploadExternal":
            files = payload.get("files") or []
            names = ", ".join(str(f.get("title") or f.get("id")) for f in files if isinstance(f, dict))
            comment = str(payload.get("initial_comment") or "")
            return Entry(method, f"file uploaded: {names}", {"text": comment} if comment else {}, payload)
        return Entry(method, f"{method}", {}, payload)

    def _response(self, payload: JSONDict) -> Entry:
        """A response_url reply: it replaces the clicked card, or is a new (ephemeral) message."""
        tag = str(payload.get("_tag", ""))
        body = message_of(payload)
        origin = None
        if tag.startswith("card/"):
            origin = self.card(int(tag.split("/")[1]))
        if origin is not None and payload.get("delete_original"):
            origin.payload = {"text": "(deleted)"}
            return Entry(RESPONSE_URL, f"@{origin.number} deleted", origin.payload, payload)
        if origin is not None and payload.get("replace_original"):
            before, origin.payload = origin.payload, body
            return Entry(RESPONSE_URL, f"@{origin.number} replaced", origin.payload, payload, before)
        ephemeral = payload.get("response_type", "ephemeral") != "in_channel"
        card = self._new_card(origin.channel if origin else "", None, body, ephemeral=ephemeral)
        note = "only visible to you" if ephemeral else "posted"
        return Entry(RESPONSE_URL, f"@{card.number} {note}", card.payload, payload)

    def reply(self, channel: str, payload: JSONDict, title: str) -> Entry:
        """A reply in the HTTP answer itself (an ack with text): a card only the typist sees."""
        card = self._new_card(channel, None, message_of(payload), ephemeral=True)
        return Entry("ack", f"@{card.number} {title}", card.payload, payload)
