"""One simulated run shared by the web tests: three days of the week with an error-rate fault on day 2 at
14:00, so the store holds lanes of every kind, approvals, ticks, an alert, the automatic rollback of
day2.3 (the latest production step then) and decisions. The fault is at a time, not after a step, so
the sim replays the same series when the pages are served from a new process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.console.runner import logs_to_file
from bot.simulate.cli import simulate
from tests.web.served import Served

FAULT = "error_rate_pct 3 from day2 14:00 for 10m"
RUN_START = date(2026, 11, 2)
DAYS = 3
AFTER_THE_WEEK = datetime(2026, 11, 14, 12, 0, tzinfo=UTC)  # the clock the pages are read at


@pytest.fixture(scope="session")
def week_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("timeline-week")
    url = f"sqlite+aiosqlite:///{folder / 'ion.db'}"
    with logs_to_file(folder / "bot.log"):
        asyncio.run(simulate(start_date=RUN_START, days=DAYS, faults=(FAULT,), database_url=url))
    # What the week's check found (a load test slow on a busy machine) does not matter here: the
    # tests compare the pages with whatever the store holds.
    return url


@pytest.fixture(scope="session")
def served(week_db: str) -> Iterator[Served]:
    server = Served(week_db, AFTER_THE_WEEK, faults=[FAULT], run_start=RUN_START).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def run_id(served: Served) -> str:
    assert served.bot is not None
    runs = served.call(served.bot.store.runs())
    assert len(runs) == 1
    return runs[0].id


def output_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The test's own output folder (screenshots, downloads)."""
    folder = tmp_path / "output"
    folder.mkdir(exist_ok=True)
    return folder
