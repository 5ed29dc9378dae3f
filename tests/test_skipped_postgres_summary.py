"""Issue 17 item 24: a run without PostgreSQL says in pytest's summary line why its PostgreSQL variants skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_summary_line_says_the_postgresql_variants_skipped_without_ion_test_postgres_url() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ION_TEST_POSTGRES_URL", "CI")}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/store/test_datetimes.py", "-p", "no:cacheprovider"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = finished.stdout
    assert finished.returncode == 0, out + finished.stderr
    summary = out.strip().splitlines()[-1]
    assert "passed" in summary and "skipped without ION_TEST_POSTGRES_URL" in summary, summary
    assert "PostgreSQL variant(s) skipped: ION_TEST_POSTGRES_URL is not set. To run them, export" in out


def test_the_readme_tests_section_says_why_tests_skip_without_postgresql() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tests = readme.split("## Tests", 1)[1].split("\n## ", 1)[0]
    assert "skipped without ION_TEST_POSTGRES_URL" in tests
