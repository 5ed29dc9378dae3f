"""`ionbot serve` with several bad settings at once: one list with every problem, in sentences,
exit code 2, no traceback, and no secret in the output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_http import free_port
from tests.outage.serving import own_folder, refused, remove_folder, serve_env


@pytest.fixture
def folder() -> Iterator[Path]:
    made = own_folder("ion-outage-serve-")
    yield made
    remove_folder(made)


async def test_serve_with_several_bad_settings_lists_every_problem_and_exits_2_without_a_traceback(
    folder: Path,
) -> None:
    closed = free_port()  # nothing listens there
    env = serve_env(
        folder,
        "http://127.0.0.1:9/api/",
        PORT="eighty",
        ION_ROLES="{lead: U1}",
        ION_RUNBOOK=str(folder / "missing.yaml"),
        ION_DATABASE_URL=f"postgresql+asyncpg://ion:hunter2-secret@127.0.0.1:{closed}/ion",
        SLACK_BOT_TOKEN="xoxb-very-secret-token",
    )
    del env["SLACK_SIGNING_SECRET"]
    code, said = await refused(env)

    assert code == 2, said
    assert said.startswith("ionbot serve cannot start; fix these and start it again:")
    assert "PORT: Input should be a valid integer" in said
    assert "ION_ROLES: Value error, not valid JSON" in said
    assert "missing SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)" in said
    assert f"ION_RUNBOOK: cannot load the runbook {folder / 'missing.yaml'}" in said and "no such file" in said
    assert f"ION_DATABASE_URL: cannot reach the database at postgresql+asyncpg://ion:***@127.0.0.1:{closed}/ion" in said
    assert "Traceback" not in said
    assert "hunter2-secret" not in said and "xoxb-very-secret-token" not in said
    assert len([line for line in said.splitlines() if line.startswith("  - ")]) == 5


async def test_serve_with_a_sqlite_folder_that_cannot_be_created_and_a_broken_runbook_lists_both(
    folder: Path,
) -> None:
    blocker = folder / "a-file"
    blocker.write_text("not a folder\n")
    broken = folder / "broken.yaml"
    broken.write_text("id: broken\n")
    env = serve_env(
        folder,
        "http://127.0.0.1:9/api/",
        ION_RUNBOOK=str(broken),
        ION_DATABASE_URL=f"sqlite+aiosqlite:///{blocker}/store/ion.db",
    )
    code, said = await refused(env)

    assert code == 2, said
    assert f"cannot load the runbook {broken}" in said and "missing required field 'title'" in said
    assert f"the folder {blocker}/store for the SQLite store cannot be created" in said
    assert "Traceback" not in said
