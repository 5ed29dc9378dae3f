"""`ionbot simulate` fails loudly: a step the script never plays is named, and the exit code is 1."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

import pytest

from bot.runbook.models import Runbook
from bot.simulate import cli
from bot.simulate.script import Act, PlayStep, week_script


def without_step(step_id: str) -> Callable[[Runbook, int | None], list[Act]]:
    def script(runbook: Runbook, days: int | None = None) -> list[Act]:
        return [act for act in week_script(runbook, days) if not (isinstance(act, PlayStep) and act.step_id == step_id)]

    return script


def test_a_step_left_unplayed_is_named_and_the_command_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "week_script", without_step("day1.2"))
    parser = argparse.ArgumentParser()
    cli.register_simulate(parser.add_subparsers())
    args = parser.parse_args(["simulate", "--days", "1"])
    code = asyncio.run(cli.simulate_main(args))
    err = capsys.readouterr().err
    assert code == 1
    assert "thing(s) the runbook asked for did not happen" in err
    assert "day1.2 on staging is" in err or "day1.2 on production is" in err
    assert "Everything the runbook asked for happened." not in err
