"""Issue 14: the first answer after spawn loads only what answering needs.

The backtest (numpy), the charts (matplotlib), the report and page templates (Jinja), the Google
clients (gRPC), migrations (alembic, mako) and mail (aiosmtplib) are imported at their first use, not
while a starting bot makes Slack wait. Checked in a fresh interpreter (tests/runtime/first_answer_process.py),
which then uses each lazily loaded part for the first time, so making them lazy broke none of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n".hex()


@pytest.fixture(scope="module")
def first_answer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    workdir = tmp_path_factory.mktemp("first-answer")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ION_", "SLACK_", "GOOGLE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "tests.runtime.first_answer_process", str(workdir)],
        cwd=REPO,
        env={**env, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def test_a_starting_bot_answers_a_help_and_a_store_reading_command_each_once(first_answer: dict[str, Any]) -> None:
    assert first_answer["statuses"] == [200, 200]
    assert first_answer["answered"] == ["U0LEE", "U0SAM"]


def test_answering_loads_no_backtest_chart_template_google_migration_or_mail_library(
    first_answer: dict[str, Any],
) -> None:
    assert first_answer["loaded"] == []


def test_answering_builds_neither_the_scheduler_nor_the_report_services(first_answer: dict[str, Any]) -> None:
    assert first_answer["deferred_loaded"] == []


def test_the_report_renders_at_its_first_use_after_the_answers(first_answer: dict[str, Any]) -> None:
    assert first_answer["report"].startswith("*Week 17 Day 1 Report*")


def test_a_chart_renders_at_its_first_use_after_the_answers(first_answer: dict[str, Any]) -> None:
    assert first_answer["chart_png_header"] == PNG


def test_the_real_cloud_run_client_reads_the_fake_at_its_first_use_after_the_answers(
    first_answer: dict[str, Any],
) -> None:
    read, seeded = first_answer["cloud_run_min_instances"]
    assert read == seeded
