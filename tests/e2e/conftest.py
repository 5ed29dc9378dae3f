"""Fixtures: each end-to-end test runs on SQLite and, when configured, on PostgreSQL; the sim's
application databases are seeded once per session and copied (see app_dbs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.sim import app_db
from tests.e2e.app_dbs import AppDbTemplate
from tests.e2e.databases import BACKENDS, Databases


@pytest.fixture(scope="session")
def app_db_template() -> Iterator[AppDbTemplate]:
    template = AppDbTemplate()
    try:
        yield template
    finally:
        template.remove()


@pytest.fixture(autouse=True)
def copied_app_dbs(app_db_template: AppDbTemplate, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_db, "create_app_db", app_db_template.create)


@pytest.fixture(scope="module", params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    made = Databases(request.param, tmp_path_factory.mktemp(f"e2e-{request.param}"))
    try:
        yield made
    finally:
        made.drop_all()
