"""Slack's size limits in one place, a splitter for long content and a validator used by every test.

Slack rejects a whole message when one field is too long (``invalid_blocks``), so builders
clamp text with :func:`clamp` and the sender splits with :func:`split_blocks`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Block = dict[str, Any]

SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
OUR_LABEL = 30  # house rule: button and confirm labels stay short enough to read on a phone
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_ELEMENTS = 100
ACTION_ID = 255
BLOCK_ID = 255
VALUE = 2000
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTION_DESCRIPTION = 75
CHECKBOX_OPTIONS = 10
SELECT_OPTIONS = 100
VIEW_TITLE = 24
VIEW_BUTTON = 24
PRIVATE_METADATA = 3000
CALLBACK_ID = 255
INPUT_LABEL = 2000
FALLBACK_TEXT = 40000

ELLIPSIS = "…"


def clamp(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when something was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS


def split_text(text: str, limit: int = SECTION_TEXT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at line breaks where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:  # a single line longer than a section
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            current = line
        else:
            current = candidate
    if current or not pieces:
        pieces.append(current)
    return pieces


def _split_long_sections(blocks: Iterable[Block]) -> list[Block]:
    out: list[Block] = []
    for block in blocks:
        text = block.get("text")
        if block.get("type") == "section" and isinstance(text, dict) and len(text.get("text", "")) > SECTION_TEXT:
            for i, piece in enumerate(split_text(text["text"])):
                part = copy.deepcopy(block)
                part["text"] = {**text, "text": piece}
                if i > 0:
                    part.pop("accessory", None)
                    part.pop("fields", None)
                if "block_id" in part:
                    part["block_id"] = f"{block['block_id']}~{i}"[:BLOCK_ID]
                out.append(part)
        else:
            out.append(block)
    return out


def split_blocks(blocks: Sequence[Block], per_message: int = MESSAGE_BLOCKS) -> list[list[Block]]:
    """Blocks spread over as many messages as Slack needs: long sections become several,
    and no message has more than ``per_message`` blocks. A divider never starts a message."""
    flat = _split_long_sections(blocks)
    messages: list[list[Block]] = []
    current: list[Block] = []
    for block in flat:
        if len(current) == per_message:
            messages.append(current)
            current = []
        if not current and block.get("type") == "divider" and messages:
            continue
        current.append(block)
    if current or not messages:
        messages.append(current)
    return messages


# --- validation ----------------------------------------------------------------------------


def _text_of(obj: Any) -> str:
    if isinstance(obj, Mapping):
        value = obj.get("text", "")
        return value if isinstance(value, str) else ""
    return ""


def _check(problems: list[str], where: str, what: str, value: str, limit: int) -> None:
    if len(value) > limit:
        problems.append(f"{where}: {what} has {len(value)} characters, Slack allows {limit}")


def _check_confirm(problems: list[str], where: str, confirm: Mapping[str, Any]) -> None:
    _check(problems, where, "confirm title", _text_of(confirm.get("title")), CONFIRM_TITLE)
    _check(problems, where, "confirm text", _text_of(confirm.get("text")), CONFIRM_TEXT)
    _check(problems, where, "confirm button", _text_of(confirm.get("confirm")), CONFIRM_BUTTON)
    _check(problems, where, "deny button", _text_of(confirm.get("deny")), CONFIRM_BUTTON)


def _check_options(problems: list[str], where: str, element: Mapping[str, Any]) -> None:
    options = element.get("options", [])
    limit = CHECKBOX_OPTIONS if element.get("type") == "checkboxes" else SELECT_OPTIONS
    if len(options) > limit:
        problems.append(f"{where}: {element.get('type')} has {len(options)} options, Slack allows {limit}")
    for option in [*options, *element.get("initial_options", [])]:
        _check(problems, where, "option text", _text_of(option.get("text")), OPTION_TEXT)
        _check(problems, where, "option value", str(option.get("value", "")), OPTION_VALUE)
        _check(problems, where, "option description", _text_of(option.get("description")), OPTION_DESCRIPTION)
    values = [json.dumps(o, sort_keys=True) for o in options]
    for initial in element.get("initial_options", []):
        if json.dumps(initial, sort_keys=True) not in values:
            problems.append(f"{where}: an initial option is not one of the options")


def _check_element(problems: list[str], where: str, element: Mapping[str, Any]) -> None:
    _check(problems, where, "action_id", str(element.get("action_id", "")), ACTION_ID)
    kind = element.get("type")
    if kind == "button":
        label = _text_of(element.get("text"))
        _check(problems, where, "button text", label, BUTTON_TEXT)
        if ":gate_decide:" not in str(element.get("action_id", "")):  # a gate's YES/NO: the runbook's own words
            _check(problems, where, "our button label", label, OUR_LABEL)
        _check(problems, where, "button value", str(element.get("value", "")), VALUE)
    if kind in {"checkboxes", "static_select", "radio_buttons", "multi_static_select"}:
        _check_options(problems, where, element)
    if isinstance(element.get("confirm"), Mapping):
        _check_confirm(problems, where, element["confirm"])


def _elements_of(block: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if block.get("type") == "actions":
        return list(block.get("elements", []))
    found = [block[key] for key in ("accessory", "element") if isinstance(block.get(key), Mapping)]
    return found


def validate_blocks(blocks: Sequence[Mapping[str, Any]], max_blocks: int = MESSAGE_BLOCKS) -> list[str]:
    """Every way ``blocks`` break Slack's limits, as readable lines; empty when Slack would accept them."""
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"message has {len(blocks)} blocks, Slack allows {max_blocks}")
    block_ids: set[str] = set()
    element_count = 0
    for n, block in enumerate(blocks):
        where = f"block {n} ({block.get('type')})"
        block_id = block.get("block_id")
        if block_id is not None:
            _check(problems, where, "block_id", str(block_id), BLOCK_ID)
            if block_id in block_ids:
                problems.append(f"{where}: block_id '{block_id}' is used twice")
            block_ids.add(str(block_id))
        kind = block.get("type")
        if kind == "header":
            _check(problems, where, "header text", _text_of(block.get("text")), HEADER_TEXT)
        elif kind == "section":
            _check(problems, where, "section text", _text_of(block.get("text")), SECTION_TEXT)
            fields = block.get("fields", [])
            if len(fields) > SECTION_FIELDS:
                problems.append(f"{where}: {len(fields)} fields, Slack allows {SECTION_FIELDS}")
            for field in fields:
                _check(problems, where, "field text", _text_of(field), SECTION_FIELD_TEXT)
            if not _text_of(block.get("text")) and not fields:
                problems.append(f"{where}: a section needs text or fields")
        elif kind == "context":
            elements = block.get("elements", [])
            if not elements or len(elements) > CONTEXT_ELEMENTS:
                problems.append(f"{where}: {len(elements)} context elements, Slack allows 1 to {CONTEXT_ELEMENTS}")
        elif kind == "actions":
            elements = block.get("elements", [])
            if not elements or len(elements) > ACTIONS_ELEMENTS:
                problems.append(f"{where}: {len(elements)} elements, Slack allows 1 to {ACTIONS_ELEMENTS}")
        elif kind == "input":
            _check(problems, where, "input label", _text_of(block.get("label")), INPUT_LABEL)
        action_ids: set[str] = set()
        for element in _elements_of(block):
            element_count += 1
            _check_element(problems, where, element)
            action_id = element.get("action_id")
            if action_id is not None:
                if action_id in action_ids:
                    problems.append(f"{where}: action_id '{action_id}' is used twice in one block")
                action_ids.add(str(action_id))
    if element_count > MESSAGE_ELEMENTS:
        problems.append(f"message has {element_count} interactive elements, the bot allows {MESSAGE_ELEMENTS}")
    return problems


def validate_message(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Problems of one chat message (at most 50 blocks)."""
    return validate_blocks(blocks, MESSAGE_BLOCKS)


def validate_view(view: Mapping[str, Any]) -> list[str]:
    """Problems of a modal or App Home view (``views.open`` / ``views.publish`` payload)."""
    problems = validate_blocks(view.get("blocks", []), VIEW_BLOCKS)
    if view.get("type") == "modal":
        _check(problems, "view", "title", _text_of(view.get("title")), VIEW_TITLE)
        _check(problems, "view", "submit", _text_of(view.get("submit")), VIEW_BUTTON)
        _check(problems, "view", "close", _text_of(view.get("close")), VIEW_BUTTON)
        if not _text_of(view.get("title")):
            problems.append("view: a modal needs a title")
        has_input = any(b.get("type") == "input" for b in view.get("blocks", []))
        if has_input and not view.get("submit"):
            problems.append("view: a modal with inputs needs a submit button")
    _check(problems, "view", "private_metadata", str(view.get("private_metadata", "")), PRIVATE_METADATA)
    _check(problems, "view", "callback_id", str(view.get("callback_id", "")), CALLBACK_ID)
    return problems
