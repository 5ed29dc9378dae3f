"""The ionbot command line, driven through main([...]) with captured output and exit codes."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli import COMMANDS, build_parser, main

from .conftest import MINI

WEEK17 = str(Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml")


def test_check_exits_zero_for_valid_runbooks(capsys: pytest.CaptureFixture[str]) -> None:
    example = WEEK17.replace("week17.yaml", "example.yaml")
    assert main(["check", WEEK17, example]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ok: ")


def test_check_prints_every_problem_and_exits_one(
    write_runbook: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_runbook(MINI.replace("{role: lead}", "{role: leed}").replace("- id: day1.1", "- id: day2.1"))
    assert main(["check", str(bad), str(bad.parent / "missing.yaml")]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{bad}:23:13: step day2.1 is listed under day 1; move it to day 2 or rename it day1.N",
        f"{bad}:34:20: unknown role 'leed'; did you mean lead?",
        f"{bad.parent / 'missing.yaml'}:1:1: no such file; pass the path of a runbook YAML file or set ION_RUNBOOK",
    ]
    assert "3 problems in 2 of 2 file(s)" in captured.err


def test_check_without_paths_uses_ion_runbook(
    monkeypatch: pytest.MonkeyPatch, write_runbook: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ION_RUNBOOK", str(write_runbook(MINI.replace("working_days: 2", "working_days: 0"))))
    assert main(["check"]) == 1
    assert ":4:17: working_days should be greater than or equal to 1 (found 0)" in capsys.readouterr().out


def test_list_prints_days_steps_and_gates_with_windows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--runbook", WEEK17]) == 0
    out = capsys.readouterr().out
    assert "Day 2: Cost Optimization Phase 1 - Cloud Run [Quick Wins]" in out
    assert "  step day2.1        09:00-10:00  Reduce Minimum Instances (US Region)" in out
    assert "  gate gonogo.day3   17:00" in out


def test_show_prints_a_step_as_a_person_reads_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "day2.1", "--runbook", WEEK17]) == 0
    out = capsys.readouterr().out
    for line in (
        "day2.1: Reduce Minimum Instances (US Region)",
        "  Day 2, 09:00-10:00 (America/Chicago)",
        "    1. Reduce minimum instances: Scale ion-mentoring-api in us-central1 to minInstances 2",
        "    - [ ] No spike in error rate  [error_rate_pct < 0.5]",
        "  Verification: 30m after applying: p95_latency_ms < 50, error_rate_pct < 0.5",
        "  Cost impact: Cloud Run -$100/month",
        "  Approvals: 1 x Manager (manager), 1 x On-call SRE (sre_oncall)",
    ):
        assert line in out.splitlines()


def test_show_prints_a_gate(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "gonogo.day10", "--runbook", WEEK17]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "  Decision: Proceed to Week 18 / Extend Week 17" in out


def test_show_of_an_unknown_id_suggests_the_nearest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", "day2.7", "--runbook", WEEK17]) == 1
    err = capsys.readouterr().err
    assert "No step or gate 'day2.7' in runbook week17. Nearest: day2.4, day2.3, day2.2." in err


def test_list_with_a_broken_runbook_explains_and_exits_one(
    write_runbook: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write_runbook("")
    assert main(["list", "--runbook", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"Cannot load the runbook {bad}" in err and f"{bad}:1:1: the file is empty" in err


def test_schema_prints_a_json_schema_editors_can_use(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "Condition" not in schema["$defs"]
    trigger = schema["$defs"]["Trigger"]["properties"]
    assert trigger["condition"]["type"] == "string" and "$ref" not in trigger["condition"]
    assert "format" not in schema["$defs"]["TimeWindow"]["properties"]["start"]


def test_no_subcommand_prints_help_and_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "check" in capsys.readouterr().out


def test_each_command_name_registers_that_command_alone() -> None:
    """main builds the parser of a named command from its registrar alone: the name must be the
    command the registrar adds, or `ionbot NAME` would answer "invalid choice"."""
    for name, register in COMMANDS.items():
        parser = argparse.ArgumentParser(prog="ionbot")
        commands = parser.add_subparsers(dest="command")
        register(commands)
        assert list(commands.choices) == [name]
    listed = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(listed.choices) == list(COMMANDS)  # `ionbot --help` lists every one


def test_check_imports_neither_the_store_nor_bolt_nor_the_bot() -> None:
    """`ionbot check` (a runbook author's loop, a CI step) loads only what checking needs."""
    script = (
        "import sys\n"
        "from bot.cli import main\n"
        f"code = main(['check', {WEEK17!r}])\n"
        "heavy = ('sqlalchemy', 'slack_bolt', 'aiohttp', 'bot.bootstrap', 'matplotlib', 'grpc')\n"
        "print(code, sorted(name for name in heavy if name in sys.modules))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "0 []"
