"""Pydantic validation errors turned into located sentences a runbook author can act on."""

from __future__ import annotations

import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.runbook.errors import ConditionSyntaxError, Problem
from bot.runbook.models import ACTION_KINDS, Runbook
from bot.runbook.source import YamlSource
from bot.runbook.suggest import did_you_mean

Loc = tuple[str | int, ...]


# Each missing or unknown field is a fix of its own, never an alternative to merge with "or".
_OWN_LINE = ("missing", "extra_forbidden")


def validation_problems(source: YamlSource, error: ValidationError) -> list[Problem]:
    """One Problem per distinct position; alternatives of a union at one spot are merged."""
    merged: dict[tuple[int, int], Problem] = {}
    own: list[Problem] = []
    for detail in error.errors(include_url=False):
        problem = _problem(source, detail)
        key = (problem.line, problem.col)
        if detail["type"] in _OWN_LINE:
            if problem not in own:
                own.append(problem)
        elif key in merged:
            earlier = merged[key]
            head, found = _split_found(earlier.message)
            merged[key] = Problem(earlier.file, earlier.line, earlier.col, f"{head} or {_tail(problem)}{found}")
        else:
            merged[key] = problem
    return [*merged.values(), *own]


def _split_found(message: str) -> tuple[str, str]:
    """'x should be a list (found 5)' -> ('x should be a list', ' (found 5)')."""
    match = re.fullmatch(r"(.*?)( \(found .*\))?", message, flags=re.DOTALL)
    assert match is not None
    return match.group(1), match.group(2) or ""


def _tail(problem: Problem) -> str:
    """The alternative a second union member wanted: 'x should be 'all' (found y)' -> 'be 'all''."""
    return re.sub(r"^\S+ should ", "", _split_found(problem.message)[0])


def _problem(source: YamlSource, detail: ErrorDetails) -> Problem:
    loc: Loc = tuple(detail["loc"])
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    if kind == "missing":
        return source.problem(loc[:-1], f"missing required field '{loc[-1]}'")
    if kind == "extra_forbidden":
        allowed = fields_at(loc[:-1])
        hint = did_you_mean(str(loc[-1]), allowed, n=1) if allowed else ""
        return source.problem(loc, f"unknown field '{loc[-1]}'{hint}", at_key=True)
    if kind == "union_tag_invalid":
        tag = str(ctx.get("tag"))
        return source.problem((*loc, "kind"), f"unknown action kind '{tag}'{did_you_mean(tag, ACTION_KINDS, n=1)}")
    if kind == "union_tag_not_found":
        return source.problem(loc, f"an action needs a 'kind', one of: {', '.join(ACTION_KINDS)}")
    error = ctx.get("error")
    if isinstance(error, ConditionSyntaxError):
        return source.problem_in_text(loc, error.column, f"bad condition: {error.message}")
    field = _field_name(loc)
    if kind == "value_error":
        reason = str(error) if error is not None else detail["msg"]
        named = isinstance(loc[-1], str) and loc[-1] == field if loc else False
        reason += _found_number(source, loc, detail.get("input"))
        return source.problem(loc, f"{field}: {reason}" if named else reason)
    if kind in ("string_type", "dict_type", "list_type", "model_type", "model_attributes_type"):
        found = _described_input(source, loc, detail.get("input"))
        expected = {"string_type": "text", "list_type": "a list"}.get(kind, "a mapping (key: value)")
        return source.problem(loc, f"{field} should be {expected} (found {found})")
    return source.problem(loc, _sentence(field, detail))


def _found_number(source: YamlSource, loc: Loc, value: Any) -> str:
    """' (found 25:00)' for a YAML number a validator refused, as written (YAML reads 25:00 as 1500)."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return ""
    node = source.locate(loc).node
    written = node.value if isinstance(node, yaml.ScalarNode) else repr(value)
    return f" (found {written if len(written) <= 30 else f'{written[:12]}... ({len(written)} characters)'})"


def _sentence(field: str, detail: ErrorDetails) -> str:
    message = detail["msg"]
    if message.startswith("Input should"):
        message = f"{field} should" + message[len("Input should") :]
    else:
        message = f"{field}: {message[0].lower()}{message[1:]}"
    value = detail.get("input")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        message += f" (found {value!r})"
    return message


def _field_name(loc: Loc) -> str:
    for element in reversed(loc):
        if isinstance(element, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", element):
            return element
    return "value"


def _described_input(source: YamlSource, loc: Loc, value: Any) -> str:
    node = source.locate(loc).node
    written = node.value if isinstance(node, yaml.ScalarNode) else None
    if isinstance(value, bool):
        return f"{written or value}, which YAML reads as a boolean; put it in quotes: '{written or value}'"
    if isinstance(value, int | float):
        return f"{written or value}, which YAML reads as a number; put it in quotes: '{written or value}'"
    if value is None:
        return "nothing (null)"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


# --- which fields a mapping at some path may have (for "did you mean" on unknown keys) --------


def fields_at(loc: Loc) -> list[str]:
    """Field names of the model at ``loc`` inside a Runbook, or [] when it is not a model."""
    current: Any = Runbook
    for element in loc:
        current = _step_into(current, element)
        if current is None:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(members) == 1:
                tp = members[0]
            elif len(models) == 1:
                tp = models[0]
            else:
                return tp
        else:
            return tp


def _step_into(tp: Any, element: str | int) -> Any:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        field = tp.model_fields.get(str(element))
        return field.annotation if field is not None else None
    if origin is list and isinstance(element, int):
        return get_args(tp)[0]
    if origin is dict:
        return get_args(tp)[1]
    if origin in (Union, types.UnionType):
        for member in get_args(tp):
            kind = getattr(member, "model_fields", {}).get("kind")
            if kind is not None and get_origin(kind.annotation) is Literal and element in get_args(kind.annotation):
                return member
    return None
