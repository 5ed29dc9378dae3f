"""``ionbot check``, ``list``, ``show`` and ``schema``: the runbook at a terminal, no store, no Slack.

Each problem or refusal is one line on stderr with what to do next; the exit code is 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from bot.config import resolve_runbook
from bot.runbook.describe import describe_gate, describe_outline, describe_step
from bot.runbook.errors import RunbookError
from bot.runbook.loader import check_paths, default_runbook_path, load_runbook
from bot.runbook.models import Runbook
from bot.runbook.schema import runbook_json_schema
from bot.runbook.suggest import closest


def _add_runbook_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runbook",
        type=Path,
        default=None,
        help="runbook YAML file (default: $ION_RUNBOOK, else runbooks/week17.yaml)",
    )


def _load(args: argparse.Namespace) -> Runbook | None:
    """The runbook named by --runbook, or None after printing why it cannot be loaded."""
    path = resolve_runbook(args.runbook or default_runbook_path())
    try:
        return load_runbook(path)
    except RunbookError as exc:
        _err(f"Cannot load the runbook {path}; nothing was shown. Run `ionbot check {path}` after fixing:")
        for problem in exc.problems:
            _err(str(problem))
        return None


def _out(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout)


def _err(text: str) -> None:
    print(text, file=sys.stderr)


# --- check -------------------------------------------------------------------------------------


def register_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("check", help="validate runbook files; print every problem as file:line:col")
    parser.add_argument("paths", nargs="*", type=Path, help="runbook files (default: the default runbook)")
    parser.set_defaults(handler=run_check)


def run_check(args: argparse.Namespace) -> int:
    paths: list[Path] = list(args.paths) or [resolve_runbook(default_runbook_path())]
    problems = check_paths(paths)
    for problem in problems:
        _out(str(problem))
    if problems:
        files = len({p.file for p in problems})
        noun = "problem" if len(problems) == 1 else "problems"
        _err(f"{len(problems)} {noun} in {files} of {len(paths)} file(s); fix them and run ionbot check again.")
        return 1
    _err(f"ok: {', '.join(str(p) for p in paths)}")
    return 0


# --- list / show ------------------------------------------------------------------------------


def register_list(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("list", help="print the days, steps and gates with their windows")
    _add_runbook_option(parser)
    parser.set_defaults(handler=run_list)


def run_list(args: argparse.Namespace) -> int:
    runbook = _load(args)
    if runbook is None:
        return 1
    _out(describe_outline(runbook))
    return 0


def register_show(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("show", help="print one step or gate the way a person reads it")
    parser.add_argument("id", help="a step id (day2.1) or gate id (preflight, gonogo.day3)")
    _add_runbook_option(parser)
    parser.set_defaults(handler=run_show)


def run_show(args: argparse.Namespace) -> int:
    runbook = _load(args)
    if runbook is None:
        return 1
    wanted: str = args.id.strip()
    step = runbook.step(wanted)
    if step is not None:
        _out(describe_step(runbook, step))
        return 0
    gate = runbook.gate(wanted)
    if gate is not None:
        _out(describe_gate(runbook, gate))
        return 0
    ids = [s.id for s in runbook.steps()] + [g.id for g in runbook.gates]
    near = closest(wanted, ids)
    hint = f" Nearest: {', '.join(near)}." if near else ""
    _err(f"No step or gate '{wanted}' in runbook {runbook.id}.{hint} `ionbot list` shows them all.")
    return 1


# --- schema --------------------------------------------------------------------------------------


def register_schema(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("schema", help="print the JSON Schema of the runbook format")
    parser.set_defaults(handler=run_schema)


def run_schema(args: argparse.Namespace) -> int:
    _out(json.dumps(runbook_json_schema(), indent=2, ensure_ascii=False))
    return 0
