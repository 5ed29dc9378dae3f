"""What a Slack request must look like before a listener sees it: its body read from the verified
bytes, every string in it cleaned, and the fields the listeners read checked one by one.

``read_body`` says why bytes are unreadable (not UTF-8, a ``payload`` that is not a JSON object);
``problem`` says, in a sentence, why a readable body is not one the bot handles (a click with
no actions, an action without an id, a user that is not an object). The listeners then only ever
see the shapes checked here, so no odd type can reach them as an IndexError or a KeyError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from bot.safe_text import clean_json
from bot.slack.blocks.mrkdwn import escape_inline

COMMAND = "/ion"
OUR_PREFIX = "ion:"
Body = dict[str, Any]


class Unreadable(ValueError):
    """The body cannot be read as a Slack request at all."""


def read_body(raw: bytes, content_type: str | None) -> Body:
    """The request's fields as Slack sends them: JSON (events), a form (commands) or a form whose
    ``payload`` field is JSON (interactivity); strings cleaned (bot/safe_text.py)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"the body is not UTF-8 (byte {exc.start})") from None
    if content_type == "application/json" or text.startswith("{"):
        value = _json(text, "the JSON body")
    else:
        fields = dict(parse_qsl(text, keep_blank_values=True))
        value = _json(fields["payload"], "the payload field") if "payload" in fields else fields
    if not isinstance(value, dict):
        raise Unreadable(f"the request is a JSON {type(value).__name__}, not an object")
    return dict(clean_json(value))


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Unreadable(f"{what} is not JSON") from None


@dataclass(frozen=True)
class Addressee:
    """Who can be answered privately about a request the bot will not handle, and where."""

    kind: str  # "command" | "block_actions" | "view_submission" | ...
    user: str | None
    channel: str | None


def kind_of(body: Body) -> str:
    if "command" in body:
        return "command"
    if "ssl_check" in body:
        return "ssl_check"
    kind = body.get("type")
    return kind if isinstance(kind, str) else "unknown"


def addressee(body: Body) -> Addressee:
    """The person and channel to answer, as far as the body names them with plain strings."""
    kind = kind_of(body)
    if kind == "command":
        return Addressee(kind, _text(body.get("user_id")), _text(body.get("channel_id")))
    user = body.get("user")
    channel = body.get("channel")
    container = body.get("container")
    channel_id = _text(channel.get("id")) if isinstance(channel, dict) else None
    if channel_id is None and isinstance(container, dict):
        channel_id = _text(container.get("channel_id"))
    return Addressee(kind, _text(user.get("id")) if isinstance(user, dict) else None, channel_id)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def problem(body: Body) -> str | None:
    """Why the bot does not handle this body, as a sentence; None when its listeners can take it."""
    kind = kind_of(body)
    check = _CHECKS.get(kind)
    if check is None:
        return f"a request of type {kind!r} is not one this bot handles"
    return _common(body) or check(body)


def _common(body: Body) -> str | None:
    """Fields Bolt itself reads from every request to build its context."""
    for key in ("team", "enterprise", "user", "channel"):
        if body.get(key) is not None and not isinstance(body[key], dict | str):
            return f"its {key} is a {type(body[key]).__name__}"
    if body.get("authorizations") is not None and not _list_of_dicts(body["authorizations"]):
        return "its authorizations is not a list of objects"
    # Bolt takes len() of response_urls whenever the key is there, even when it is null.
    if "response_urls" in body and not _list_of_dicts(body["response_urls"]):
        return "its response_urls is not a list of objects"
    return None


def _command(body: Body) -> str | None:
    if body.get("command") != COMMAND:
        return f"the command {escape_inline(str(body.get('command'))[:40])} is not {COMMAND}"
    for key in ("user_id", "channel_id"):
        if _text(body.get(key)) is None:
            return f"the command has no {key}"
    return _optional_strings(body, "text", "trigger_id", "user_name", "response_url")


def _block_actions(body: Body) -> str | None:
    found = _user(body) or _optional_strings(body, "trigger_id", "response_url")
    if found:
        return found
    for key in ("channel", "container", "message"):
        if body.get(key) is not None and not isinstance(body[key], dict):
            return f"its {key} is not an object"
    found = _optional_strings(body.get("channel") or {}, "id") or _optional_strings(
        body.get("container") or {}, "channel_id", "message_ts"
    )
    found = found or _optional_strings(body.get("message") or {}, "ts") or _blocks(body.get("message") or {})
    if found:
        return found
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return "the click carries no actions"
    for action in actions:
        if not isinstance(action, dict):
            return "an action of the click is not an object"
        action_id = action.get("action_id")
        if not isinstance(action_id, str) or not action_id.startswith(OUR_PREFIX):
            return "an action of the click has no action id of this bot"
        found = _optional_strings(action, "value", "block_id", "action_ts")
        options = action.get("selected_options")
        if found or (options is not None and not _list_of_dicts(options)):
            return found or "the ticked options are not a list of objects"
    return None


def _blocks(message: dict[str, Any]) -> str | None:
    """The clicked message's blocks, which a checkbox click reads for its group's options."""
    blocks = message.get("blocks")
    if blocks is None:
        return None
    if not _list_of_dicts(blocks):
        return "the message's blocks are not a list of objects"
    for block in blocks:
        elements = block.get("elements")
        if elements is not None and not _list_of_dicts(elements):
            return "a block's elements are not a list of objects"
        for element in elements or []:
            if element.get("options") is not None and not _list_of_dicts(element["options"]):
                return "a checkbox group's options are not a list of objects"
    return None


def _view(body: Body) -> str | None:
    found = _user(body)
    view = body.get("view")
    if found or not isinstance(view, dict):
        return found or "the dialog carries no view"
    callback = view.get("callback_id")
    if not isinstance(callback, str) or not callback.startswith(OUR_PREFIX):
        return "the dialog is not one of this bot's"
    if not isinstance(view.get("type"), str):
        return "the dialog has no type"
    found = _optional_strings(view, "private_metadata", "id", "hash")
    if found:
        return found
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    if state is not None and not isinstance(state, dict):
        return "the dialog's state is not an object"
    if values is not None and not (
        isinstance(values, dict)
        and all(isinstance(b, dict) and all(isinstance(e, dict) for e in b.values()) for b in values.values())
    ):
        return "the dialog's values are not objects of objects"
    return None


def _event(body: Body) -> str | None:
    event = body.get("event")
    if not isinstance(event, dict) or event.get("type") != "app_home_opened":
        return "the event is not one this bot subscribes to"
    if _text(event.get("user")) is None:
        return "the event names no user"
    return _optional_strings(event, "tab")


def _url_verification(body: Body) -> str | None:
    return None if isinstance(body.get("challenge"), str) else "the challenge is not text"


def _nothing(body: Body) -> str | None:
    return None


def _user(body: Body) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict) or _text(user.get("id")) is None:
        return "it names no user"
    return _optional_strings(user, "username", "name")


def _optional_strings(fields: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if fields.get(key) is not None and not isinstance(fields[key], str):
            return f"its {key} is a {type(fields[key]).__name__}, not text"
    return None


def _list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


_CHECKS = {
    "command": _command,
    "block_actions": _block_actions,
    "view_submission": _view,
    "view_closed": _view,
    "event_callback": _event,
    "url_verification": _url_verification,
    "ssl_check": _nothing,
}
