"""Slack-shaped request bodies for the console: what Slack would POST when a person types or clicks.

The console and ``ionbot simulate`` feed these through ``app.async_dispatch`` so the demo runs
the very listeners Slack runs. Bodies are form-encoded like Slack's (``payload=`` JSON for
interactions), so Bolt parses them exactly as it parses the real thing.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

JSONDict = dict[str, Any]
FORM = "application/x-www-form-urlencoded"
_triggers = itertools.count(1)


@dataclass(frozen=True)
class Person:
    """Who is typing: a Slack user id and the name the console shows."""

    user_id: str
    name: str


@dataclass(frozen=True)
class Where:
    """The workspace and channel the console plays in, and where response_url replies go."""

    team_id: str
    channel_id: str
    channel_name: str
    response_url_base: str  # e.g. http://127.0.0.1:PORT/response/

    def response_url(self, tag: str) -> str:
        return f"{self.response_url_base}{tag}"


def trigger_id() -> str:
    """A fresh trigger id, as Slack sends with every interaction (views.open needs one)."""
    return f"console.{next(_triggers)}"


def _form(fields: Mapping[str, str]) -> str:
    return urlencode(fields)


def _interaction(payload: JSONDict) -> str:
    return _form({"payload": json.dumps(payload, separators=(",", ":"))})


def headers() -> dict[str, str | Sequence[str]]:
    """The headers Slack sends with every request (signature checking is off in the console)."""
    return {"content-type": FORM}


def slash_command(text: str, who: Person, where: Where, *, command: str = "/ion") -> str:
    """The form body of ``/ion TEXT`` typed by ``who`` in the console's channel."""
    return _form(
        {
            "token": "console",
            "team_id": where.team_id,
            "team_domain": "ion-console",
            "channel_id": where.channel_id,
            "channel_name": where.channel_name,
            "user_id": who.user_id,
            "user_name": who.name,
            "command": command,
            "text": text,
            "api_app_id": "A0IONCONSOLE",
            "response_url": where.response_url(f"command/{next(_triggers)}"),
            "trigger_id": trigger_id(),
        }
    )


@dataclass(frozen=True)
class MessageRef:
    """The message an element sits on: channel and ts (None for a response_url reply), its payload."""

    channel: str
    ts: str | None
    message: Mapping[str, Any]
    ephemeral: bool = False


def _base_interaction(kind: str, who: Person, where: Where) -> JSONDict:
    return {
        "type": kind,
        "team": {"id": where.team_id, "domain": "ion-console"},
        "user": {"id": who.user_id, "username": who.name, "name": who.name, "team_id": where.team_id},
        "api_app_id": "A0IONCONSOLE",
        "token": "console",
        "trigger_id": trigger_id(),
    }


def _container(ref: MessageRef) -> JSONDict:
    container: JSONDict = {"type": "message", "channel_id": ref.channel, "is_ephemeral": ref.ephemeral}
    if ref.ts is not None:
        container["message_ts"] = ref.ts
    return container


def block_actions(who: Person, where: Where, ref: MessageRef, actions: Sequence[JSONDict], *, response_tag: str) -> str:
    """The ``payload=`` body of a click or a tick on ``ref``'s message."""
    payload = _base_interaction("block_actions", who, where)
    payload.update(
        {
            "container": _container(ref),
            "channel": {"id": ref.channel, "name": where.channel_name},
            "response_url": where.response_url(response_tag),
            "actions": list(actions),
            "state": {"values": {}},
        }
    )
    if ref.ts is not None and not ref.ephemeral:
        payload["message"] = {"type": "message", "ts": ref.ts, **dict(ref.message)}
    return _interaction(payload)


def button_action(action_id: str, block_id: str, value: str, label: str) -> JSONDict:
    """One pressed button, as it appears in ``actions``."""
    return {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "action_ts": "0",
    }


def checkboxes_action(action_id: str, block_id: str, selected: Sequence[Mapping[str, Any]]) -> JSONDict:
    """A checkbox group after a tick: Slack sends the whole new selection, not the one box."""
    return {
        "type": "checkboxes",
        "action_id": action_id,
        "block_id": block_id,
        "selected_options": [dict(option) for option in selected],
        "action_ts": "0",
    }


def view_submission(who: Person, where: Where, view: Mapping[str, Any], text: str) -> str:
    """The ``payload=`` body of submitting ``view`` with ``text`` in its first text input."""
    values: JSONDict = {}
    filled = False
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block.get("element", {})
        entry: JSONDict = {"type": element.get("type", "plain_text_input")}
        if element.get("type", "plain_text_input") == "plain_text_input":
            entry["value"] = text if not filled else None
            filled = True
        values[str(block.get("block_id", ""))] = {str(element.get("action_id", "")): entry}
    payload = _base_interaction("view_submission", who, where)
    payload["view"] = {
        "id": view.get("id", ""),
        "type": view.get("type", "modal"),
        "team_id": where.team_id,
        "callback_id": view.get("callback_id", ""),
        "private_metadata": view.get("private_metadata", ""),
        "title": view.get("title"),
        "blocks": list(view.get("blocks", [])),
        "state": {"values": values},
        "hash": "console",
    }
    payload["response_urls"] = []
    return _interaction(payload)
