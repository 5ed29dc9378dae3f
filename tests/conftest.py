"""Suite-wide settings: the tests never read the developer's environment for the bot's knobs."""

from __future__ import annotations

import os
import tempfile

for _name in ("ION_DATABASE_URL", "ION_CLOUD", "ION_DRY_RUN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
    os.environ.pop(_name, None)
os.environ.setdefault("MPLBACKEND", "Agg")
# `ionbot serve` records the SQLite stores it ran on in the user's state folder (bot/store/embedded.py):
# the tests' stores are recorded in a folder of their own, never in the developer's.
os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="ionbot-test-state-")

# Property tests check what a function says, never how fast: no per-example deadline, which a
# loaded 2-core CI machine would otherwise trip at random.
from hypothesis import settings as _hypothesis_settings  # noqa: E402

_hypothesis_settings.register_profile("ion", deadline=None)
# CI (.ci/run sets ION_HYPOTHESIS_PROFILE=ci) draws the same examples every run, so a hidden failing
# input cannot fail one CI run and pass the next; a developer's run draws new ones each time and is
# where such an input turns up (one did in 2026-12: a dialog with several response_urls).
_hypothesis_settings.register_profile("ci", deadline=None, derandomize=True, database=None)
_hypothesis_settings.load_profile(os.environ.get("ION_HYPOTHESIS_PROFILE", "ion"))

# The PostgreSQL variants skip themselves when ION_TEST_POSTGRES_URL is not set. Counted under a
# category of their own, the summary line says why ("121 skipped without ION_TEST_POSTGRES_URL")
# instead of leaving a bare "skipped" to be wondered at.
POSTGRES_SKIPPED = "skipped without ION_TEST_POSTGRES_URL"


def _skipped_for_postgres(report: object) -> bool:
    longrepr = getattr(report, "longrepr", None)
    return bool(
        getattr(report, "skipped", False)
        and isinstance(longrepr, tuple)
        and len(longrepr) == 3
        and "ION_TEST_POSTGRES_URL" in str(longrepr[2])
    )


def pytest_report_teststatus(report: object, config: object) -> tuple[str, str, str] | None:
    if _skipped_for_postgres(report):
        return POSTGRES_SKIPPED, "s", "SKIPPED (ION_TEST_POSTGRES_URL is not set)"
    return None


def pytest_terminal_summary(terminalreporter: object, exitstatus: int, config: object) -> None:
    skipped = len(getattr(terminalreporter, "stats", {}).get(POSTGRES_SKIPPED, []))
    if skipped:
        terminalreporter.write_line(  # type: ignore[attr-defined]
            f"{skipped} PostgreSQL variant(s) skipped: ION_TEST_POSTGRES_URL is not set. To run them, export "
            "ION_TEST_POSTGRES_URL=postgresql+asyncpg://USER@HOST:5432/DB (CI sets it, and fails instead of skipping)."
        )
