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


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("error_rate_pct 2.5 after day2.9 for 10m", "runbook week17 has no step day2.9; did you mean"),
        ("error_rate_pct 2.5 from day12 14:00 for 10m", "the run has days 1 to 10, not day 12"),
        ("eror_rate_pct 2.5 after day2.1 for 10m", "no metric eror_rate_pct; did you mean error_rate_pct"),
    ],
)
def test_a_fault_that_could_never_fire_is_refused_before_the_week_starts(
    fault: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    assert main(["simulate", "--days", "1", "--fault", fault]) == 2
    err = capsys.readouterr().err
    assert said in err and "Simulated days" not in err


@pytest.mark.parametrize("days", ["0", "-3", "11"])
def test_days_0_is_refused_like_days_minus_3_instead_of_playing_the_whole_week(
    days: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    assert main(["simulate", "--days", days]) == 2
    assert f"--days must be 1 to 10, not {days}." in capsys.readouterr().err
