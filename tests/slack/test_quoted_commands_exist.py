"""Every `/ion …` command a bot message or a report template quotes is a real command (issue 17).

A message that points to a command that does not exist is a dead end ("see /ion gate preflight"
while `/ion gate` was unknown). This collects every `/ion …` quoted in a string the bot can say
(string literals and f-strings in bot/, docstrings left out) and in templates/, fills usage
placeholders (ID, GATE, REASON …) and f-string fields with sample values, and parses each with
the real parser.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.slack.command_parser import ParseError, parse

REPO = Path(__file__).resolve().parents[2]

# Sample values for usage placeholders, so "/ion tick ID ITEM" parses as a person would type it.
PLACEHOLDERS = {
    "ID": "day2.1",
    "STEP": "day2.1",
    "GATE": "preflight",
    "CHECK": "error-rate",
    "ITEM": "1",
    "REASON": "because",
    "TEXT": "something broke",
    "DATE": "2026-11-02",
    "RUNBOOK": "week17",
    "ROLE": "lead",
    "PERSON": "<@U0LOU|lou>",
    "N": "5",
    "DAY": "2",
    "SERVICE": "cloud-run",
    "AMOUNT": "950",
    "COMMAND": "status",
    "ENV": "production",
}
_FIELD = re.compile(r"\{[^{}]*\}")
_QUOTED = re.compile(r"`/ion(?P<code>[^`]*)`")
# not part of a path or URL; the words after it, up to the next /ion
_PLAIN = re.compile(r"(?<![\w/:.-])/ion(?=\s)(?P<rest>(?:(?!/ion)[^\n`])*)")
_ARG = re.compile(
    r"^((\{[^{}]*\})+|[A-Z][A-Z_|]*|[a-z]+(\|[a-z]+)+|day\d+(\.\d+)?|gonogo\.day\d+|preflight|last|staging|production|\d+)$"
)


@dataclass(frozen=True)
class Quoted:
    where: str
    text: str  # what follows /ion, placeholders not yet filled


def _field_value(field: str) -> str:
    """An f-string field as a sample value, guessed from what it names."""
    name = field.strip("{}").lower()
    if "runbook" in name:
        return "week17"
    if "date" in name or "isoformat" in name:
        return "2026-11-02"
    if "gate" in name or "blocking" in name:  # guards.py names the gates that block a step
        return "preflight"
    if "step" in name or "target" in name:
        return "day2.1"
    if "day" in name or "past" in name or "weeks" in name:
        return "2"
    if "env" in name:
        return "production"
    return "x"


def _sample(text: str) -> str:
    """Placeholders and fields filled in; [optional] parts and … left out."""
    text = re.sub(r"\[[^\]]*\]", " ", text).replace("...", " ").replace("…", " ")
    on_gate = text.split()[:1] in (["gonogo"], ["gate"], ["override"], ["reopen"])  # its first field is a gate
    text = _FIELD.sub(lambda m: "preflight" if on_gate else _field_value(m.group(0)), text, count=1 if on_gate else 0)
    text = _FIELD.sub(lambda m: _field_value(m.group(0)), text)
    words = [PLACEHOLDERS.get(w, w.split("|")[0] if "|" in w else w) for w in text.split()]
    return " ".join(words)


def _commands_in(text: str, where: str) -> Iterator[Quoted]:
    """`/ion …` in backticks is taken whole; plain /ion takes the name and the id-like words after it."""
    for match in _QUOTED.finditer(text):
        yield Quoted(where, match.group("code").strip())
    for match in _PLAIN.finditer(_QUOTED.sub("", text)):
        words = match.group("rest").split()
        if not words:
            continue
        taken = [words[0].rstrip(".,;:)")]
        for word in words[1:]:
            bare = word.rstrip(".,;:)")
            if not _ARG.match(bare):
                break
            taken.append(bare)
            if bare != word:
                break
        yield Quoted(where, " ".join(taken))


def _strings(path: Path) -> Iterator[tuple[int, str]]:
    """String literals and f-strings (fields kept as {expr}) of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    inside_fstrings = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [
                v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
                for v in node.values
                if isinstance(v, ast.Constant | ast.FormattedValue)
            ]
            yield node.lineno, "".join(str(p) for p in parts)
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
            and id(node) not in inside_fstrings
        ):
            yield node.lineno, node.value


def _names_a_command(quoted: Quoted) -> bool:
    """Left out: `/ion` alone, and generic mentions whose command is itself a placeholder or a field
    ("/ion TEXT" in the console's help, f"/ion {text}" in a log line)."""
    words = quoted.text.split()
    return bool(words) and not words[0].startswith("{") and words[0] not in PLACEHOLDERS


def quoted_commands() -> list[Quoted]:
    found: list[Quoted] = []
    for path in sorted((REPO / "bot").rglob("*.py")):
        for line, text in _strings(path):
            found += _commands_in(text, f"{path.relative_to(REPO)}:{line}")
    for path in sorted((REPO / "templates").glob("*.j2")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            found += _commands_in(line, f"{path.relative_to(REPO)}:{number}")
    return [q for q in found if _names_a_command(q)]


QUOTED = quoted_commands()


def test_the_collector_finds_the_commands_messages_quote() -> None:
    texts = {q.text for q in QUOTED}
    assert "help" in texts and "report {day}" in texts and "gonogo {gate.id}" in texts
    assert len(QUOTED) > 20


def test_a_message_naming_a_command_that_does_not_exist_would_be_caught() -> None:
    [quoted] = list(_commands_in("the gate is closed; see /ion gaet preflight, or ask the lead.", "here"))
    assert quoted.text == "gaet preflight"
    assert isinstance(parse(_sample(quoted.text)), ParseError)
    [bare] = list(_commands_in("Start another with `/ion strat`.", "here"))
    assert isinstance(parse(f"help {bare.text}"), ParseError)


@pytest.mark.parametrize("quoted", QUOTED, ids=[f"{q.where} /ion {q.text}" for q in QUOTED])
def test_every_command_a_message_or_template_quotes_is_a_real_command(quoted: Quoted) -> None:
    # A bare name ("start another with /ion start") must be a command: `/ion help NAME` knows it.
    sample = _sample(quoted.text) if len(quoted.text.split()) > 1 else f"help {quoted.text}"
    parsed = parse(sample)
    assert not isinstance(parsed, ParseError), f"{quoted.where} quotes `/ion {quoted.text}`: {parsed}"
