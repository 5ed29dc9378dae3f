"""What a person does to a card in the console, as the requests Slack would send.

``click``, ``tick`` and ``type`` find the card or dialog in the feed, build the block_actions or
view_submission payload (``console_payloads``) and dispatch it through the session's Bolt app;
``answer`` reads what came back in the HTTP answer itself. (Slack's response_url is played by
the composition root, bot/bootstrap_console.py, which records replies there like Web API calls.)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.response import BoltResponse

from bot.console import payloads
from bot.console.feed import Card, Feed, has_input
from bot.console.input_lines import ClickLine, TickLine
from bot.console.render import plain
from bot.console.words import Note, Output

if TYPE_CHECKING:
    from bot.console.session import Session

Confirm = Callable[[str, str], Awaitable[bool]]


def answer(response: BoltResponse, feed: Feed, channel: str) -> list[Output]:
    """What came back in the HTTP answer itself: an ack with text, or a modal's field errors."""
    body = (response.body or "").strip()
    if response.status >= 400:
        return [Note(f"The bot answered HTTP {response.status}: {body[:200] or 'no reason given'}.")]
    if not body:
        return []
    try:
        data = json.loads(body)
    except ValueError:
        data = {"text": body}
    if not isinstance(data, dict):
        return []
    if data.get("response_action") == "errors":
        errors = data.get("errors") or {}
        return [Note(f"The dialog is still open: {m}") for m in (errors.values() if isinstance(errors, dict) else [])]
    if data.get("response_action") in ("clear", "update", "push"):
        return []
    if data.get("text") or data.get("blocks"):
        return [feed.reply(channel, data, "only visible to you")]
    return []


class CardActions:
    """Presses buttons, ticks boxes and answers dialogs on the session's cards, as its current user."""

    def __init__(self, session: Session, confirm: Confirm | None) -> None:
        self.session = session
        self.confirm = confirm
        self.sent: list[dict[str, Any]] = []  # every button or checkbox action sent, oldest first
        self._submitted: dict[str, Any] | None = None  # the dialog last submitted or closed
        self._responses = 0

    async def click(self, line: ClickLine) -> list[Output]:
        feed = self.session.feed
        dialog = self._dialog_button(line) if line.card is None else None
        if dialog is not None:
            return dialog
        card = feed.newest_with_button(line.label, line.card)
        if card is None:
            return [Note(self._missing_button(line))]
        button = card.button(line.label)
        assert button is not None
        outputs: list[Output] = []
        element = card.element(button.block_id, button.action_id) or {}
        confirm = element.get("confirm")
        if isinstance(confirm, dict):
            title = plain(str((confirm.get("title") or {}).get("text", "Are you sure?")))
            text = plain(str((confirm.get("text") or {}).get("text", "")))  # mrkdwn, as a person reads it
            if self.confirm is None:
                outputs.append(Note(f"{title} {text} (confirmed automatically: input is not a terminal)", "dim"))
            elif not await self.confirm(title, text):
                return [Note(f"Not confirmed; [{button.label}] was not pressed.", "dim")]
        action = payloads.button_action(button.action_id, button.block_id, button.value, button.label)
        return outputs + await self._send(card, action)

    async def tick(self, line: TickLine) -> list[Output]:
        card = self.session.feed.newest_with_checkboxes()
        if card is None:
            return [Note("No card has a checklist yet; post one with /ion step ID or /ion gonogo. Nothing was ticked.")]
        boxes = card.elements.checkboxes
        wrong = [n for n in line.numbers if n > len(boxes)]
        if wrong:
            return [
                Note(f"Card @{card.number} has {len(boxes)} boxes, so there is no box {wrong[0]}; nothing was ticked.")
            ]
        outputs: list[Output] = []
        toggled = set(line.numbers)
        groups: dict[tuple[str, str], list[Any]] = {}
        for box in boxes:
            group = groups.setdefault((box.block_id, box.action_id), [])
            if box.checked != (box.number in toggled):
                group.append(box.option)
        touched = {(b.block_id, b.action_id) for b in boxes if b.number in toggled}
        for block_id, action_id in [k for k in groups if k in touched]:
            action = payloads.checkboxes_action(action_id, block_id, groups[(block_id, action_id)])
            outputs += await self._send(card, action)
        return outputs

    async def type(self, text: str) -> list[Output]:
        session = self.session
        view = self.open_dialog()
        if view is None:
            return [Note("No dialog is open; a Run or Roll back button opens one. Nothing was sent.")]
        if not has_input(view):
            return [Note("The open dialog only says something; there is nothing to type into. Nothing was sent.")]
        response = await session.dispatch(payloads.view_submission(session.user, session.where, view, text))
        outputs = await session.collect(response, session.channel)
        if not any(isinstance(o, Note) and o.text.startswith("The dialog is still open") for o in outputs):
            self._submitted = view
        return outputs

    async def _send(self, card: Card, action: dict[str, Any]) -> list[Output]:
        session = self.session
        self.sent.append(action)
        self._responses += 1
        ref = payloads.MessageRef(card.channel or session.channel, card.ts, card.payload, card.ephemeral)
        tag = f"card/{card.number}/{self._responses}"
        body = payloads.block_actions(session.user, session.where, ref, [action], response_tag=tag)
        response = await session.dispatch(body)
        return await session.collect(response, card.channel or session.channel)

    def open_dialog(self) -> dict[str, Any] | None:
        """The dialog on screen: the newest view, unless it was submitted or closed since."""
        views = self.session.feed.views
        return views[-1] if views and views[-1] is not self._submitted else None

    def _dialog_button(self, line: ClickLine) -> list[Output] | None:
        """[Close] or [Cancel] closes the open dialog (Slack sends nothing); its submit button wants ``type``."""
        view = self.open_dialog()
        if view is None:
            return None
        wanted = line.label.strip().lower()
        close = str((view.get("close") or {}).get("text") or "Cancel")
        submit = str((view.get("submit") or {}).get("text") or "")
        if wanted == close.lower():
            self._submitted = view
            return [Note(f"[{close}]: the dialog is closed; nothing was sent.", "dim")]
        if submit and wanted == submit.lower():
            return [Note(f"[{submit}] needs the text first: answer with type TEXT, which fills it in and presses it.")]
        return None

    def _missing_button(self, line: ClickLine) -> str:
        """Why nothing was pressed: no such card, a card without buttons, or which buttons there are."""
        cards = self.session.feed.cards
        if line.card is not None and not any(c.number == line.card for c in cards):
            known = f"cards so far are @1 to @{len(cards)}" if cards else "no card has been posted yet"
            return f"There is no card @{line.card} ({known}); nothing was pressed."
        pool = [c for c in cards if line.card is None or c.number == line.card]
        labels = sorted({b.label for c in pool[-5:] for b in c.elements.buttons})
        where = f"card @{line.card}" if line.card else "any card"
        if not labels:
            has = f"Card @{line.card} has no buttons" if line.card else "No card has buttons yet"
            return f"No button '{line.label}' on {where}; nothing was pressed. {has}."
        shown = f"Buttons on card @{line.card}" if line.card else "Buttons on the latest cards"
        return f"No button '{line.label}' on {where}; nothing was pressed. {shown}: {', '.join(labels)}."
