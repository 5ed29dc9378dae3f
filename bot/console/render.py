"""The Block Kit the bot sends, drawn in a terminal (rich) or as plain text for transcripts.

Checkboxes are numbered so `tick N` can name them, buttons are drawn as `[Approve]`
so `click Approve` can; :func:`interactive_elements` gives the runner the same numbering.
"""

from __future__ import annotations

import difflib
import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.text import Text

EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":grey_question:": "❔",
    ":rotating_light:": "🚨",
    ":hourglass:": "⌛",
    ":hourglass_flowing_sand:": "⏳",
    ":large_green_circle:": "🟢",
    ":red_circle:": "🔴",
    ":white_circle:": "⚪",
    ":large_blue_circle:": "🔵",
    ":ballot_box_with_check:": "☑",
    ":arrows_counterclockwise:": "🔄",
    ":mag:": "🔍",
    ":rewind:": "⏪",
    ":leftwards_arrow_with_hook:": "↩",
    ":fast_forward:": "⏩",
    ":warning:": "⚠",
    ":no_entry:": "⛔",
    ":+1:": "👍",
    ":-1:": "👎",
    ":alarm_clock:": "⏰",
    ":octagonal_sign:": "🛑",
    ":double_vertical_bar:": "⏸",
    ":checkered_flag:": "🏁",
    ":wastebasket:": "🗑",
    ":vertical_traffic_light:": "🚦",
}

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
# (marker, pattern): a text without the marker is left as it is, not scanned (most texts have none)
_PAIRED = [
    (m, re.compile(rf"(?<![\w{e}]){e}([^{e}\n]+){e}(?![\w{e}])")) for m, e in (("*", r"\*"), ("_", "_"), ("~", "~"))
]


@dataclass(frozen=True)
class CheckboxRef:
    """Checkbox ``number`` as drawn: enough for the runner to build the block_actions payload."""

    number: int
    block_id: str
    action_id: str
    option: Mapping[str, Any]
    checked: bool
    text: str


@dataclass(frozen=True)
class ButtonRef:
    label: str
    block_id: str
    action_id: str
    value: str


@dataclass(frozen=True)
class Elements:
    checkboxes: tuple[CheckboxRef, ...]
    buttons: tuple[ButtonRef, ...]

    def button(self, label: str) -> ButtonRef | None:
        """The button whose label matches (case-insensitive; a unique prefix is enough)."""
        wanted = label.strip().lower()
        exact = [b for b in self.buttons if b.label.lower() == wanted]
        if exact:
            return exact[0]
        prefixed = [b for b in self.buttons if b.label.lower().startswith(wanted)]
        return prefixed[0] if len(prefixed) == 1 else None


def plain(mrkdwn: str, names: Mapping[str, str] | None = None) -> str:
    """mrkdwn as a person reads it: mentions as @name, links as 'label (url)', entities decoded."""
    names = names or {}

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return "@" + names.get(target[1:], target[1:])
        if target.startswith("!subteam^"):
            group = target.split("^", 1)[1]
            return "@" + (label or names.get(group, group)).lstrip("@")
        if target.startswith("!"):
            return "@" + target[1:]
        if target.startswith("#"):
            return "#" + (label or names.get(target[1:], target[1:]))
        return f"{label} ({target})" if label else target

    text = _LINK.sub(link, mrkdwn) if "<" in mrkdwn else mrkdwn  # every link or mention starts with one
    for marker, pattern in _PAIRED:  # bold, italic, strike: the transcript shows the words only
        if marker in text:
            text = pattern.sub(r"\1", text)
    return html.unescape(emoji(text))


def emoji(text: str) -> str:
    """Slack emoji codes the bot uses, as the characters a terminal can show."""
    if ":" not in text:  # every code starts with one; most texts have none (a transcript renders ~100k)
        return text
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    return text


def _text(obj: Any, names: Mapping[str, str] | None) -> str:
    if isinstance(obj, Mapping):
        value = obj.get("text", "")
        if isinstance(value, str):
            return plain(value, names) if obj.get("type") == "mrkdwn" else emoji(value)
    return ""


def _blocks_of(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Sequence[Mapping[str, Any]]:
    if isinstance(payload, Mapping):
        blocks = payload.get("blocks")
        return blocks if isinstance(blocks, list) else []
    return payload


def interactive_elements(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Elements:
    """Checkboxes (numbered from 1, in drawing order) and buttons of a message or view."""
    boxes: list[CheckboxRef] = []
    buttons: list[ButtonRef] = []
    for block in _blocks_of(payload):
        elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), Mapping):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("type") == "button":
                label = _text(element.get("text"), None)
                buttons.append(
                    ButtonRef(
                        label,
                        str(block.get("block_id", "")),
                        element.get("action_id", ""),
                        str(element.get("value", "")),
                    )
                )
            elif element.get("type") == "checkboxes":
                initial = {o.get("value") for o in element.get("initial_options", [])}
                for option in element.get("options", []):
                    boxes.append(
                        CheckboxRef(
                            len(boxes) + 1,
                            str(block.get("block_id", "")),
                            element.get("action_id", ""),
                            option,
                            option.get("value") in initial,
                            _text(option.get("text"), None),
                        )
                    )
    return Elements(tuple(boxes), tuple(buttons))


Line = tuple[str, str]  # (text, rich style)


def _lines(payload: Mapping[str, Any] | Sequence[Mapping[str, Any]], names: Mapping[str, str] | None) -> list[Line]:
    lines: list[Line] = []
    is_view = isinstance(payload, Mapping) and payload.get("type") in ("modal", "home")
    if is_view and isinstance(payload, Mapping):
        title = _text(payload.get("title"), names) or "Home"
        lines.append((f"┌─ {payload.get('type')}: {title}", "bold magenta"))
    elif isinstance(payload, Mapping) and not payload.get("blocks") and payload.get("text"):
        lines.append((plain(str(payload["text"]), names), ""))
    number = 0
    for block in _blocks_of(payload):
        kind = block.get("type")
        if kind == "header":
            lines.append((f"== {_text(block.get('text'), names)} ==", "bold"))
        elif kind == "section":
            body = _text(block.get("text"), names)
            if body.strip():
                lines.extend((line, "") for line in body.split("\n"))
            for field in block.get("fields", []):
                lines.append((f"  {_text(field, names)}", ""))
            accessory = block.get("accessory")
            if isinstance(accessory, Mapping) and accessory.get("type") == "button":
                lines.append((f"  [{_text(accessory.get('text'), names)}]", "cyan"))
        elif kind == "context":
            parts = [_text(e, names) for e in block.get("elements", [])]
            lines.append(("  " + " · ".join(p for p in parts if p.strip()), "dim"))
        elif kind == "divider":
            lines.append(("─" * 40, "dim"))
        elif kind == "actions":
            buttons = []
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    buttons.append(f"[{_text(element.get('text'), names)}]")
                elif element.get("type") == "checkboxes":
                    initial = {o.get("value") for o in element.get("initial_options", [])}
                    for option in element.get("options", []):
                        number += 1
                        mark = "x" if option.get("value") in initial else " "
                        note = _text(option.get("description"), names)
                        suffix = f" ({note})" if note else ""
                        lines.append((f"  {number:>2}. [{mark}] {_text(option.get('text'), names)}{suffix}", ""))
            if buttons:
                lines.append((" ".join(buttons), "cyan"))
        elif kind == "input":
            label = _text(block.get("label"), names)
            lines.append((f"{label}: ____________   (answer with: type TEXT)", "yellow"))
        elif kind == "image":
            lines.append((f"[image: {block.get('alt_text', '')}]", "dim"))
    if is_view and isinstance(payload, Mapping) and payload.get("type") == "modal":
        close = _text(payload.get("close"), names) or "Cancel"
        submit = _text(payload.get("submit"), names)
        lines.append(("└─ " + f"[{close}]" + (f" [{submit}]" if submit else ""), "bold magenta"))
    return lines


def render_text(
    payload: Mapping[str, Any] | Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None
) -> str:
    """A message (``{"text", "blocks"}``), a view, or a list of blocks, as plain text for transcripts."""
    return "\n".join(text for text, _ in _lines(payload, names))


def changed_lines(
    before: Mapping[str, Any], after: Mapping[str, Any], names: Mapping[str, str] | None = None
) -> list[Line]:
    """What an update changed, as drawn: the new or rewritten lines, or one line saying what went."""
    old, new = _lines(before, names), _lines(after, names)
    matcher = difflib.SequenceMatcher(a=[t for t, _ in old], b=[t for t, _ in new], autojunk=False)
    shown: list[Line] = []
    removed = 0
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            shown.extend(new[b_start:b_end])
        if tag in ("replace", "delete"):
            removed += max(0, (a_end - a_start) - (b_end - b_start))
    if removed:
        shown.append((f"({removed} line{'s' if removed > 1 else ''} no longer shown)", "dim"))
    return shown  # empty: the update changed nothing a person sees


def render(
    payload: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    console: Console,
    names: Mapping[str, str] | None = None,
    lines: Sequence[Line] | None = None,
) -> None:
    """Draw it in the terminal; text goes in as Text objects so nothing a user typed is read as markup.

    ``lines`` (from :func:`changed_lines`) draws only those instead of the whole payload."""
    for text, style in lines if lines is not None else _lines(payload, names):
        console.print(Text(text, style=style))
