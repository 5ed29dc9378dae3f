"""Fixtures: each end-to-end test runs on SQLite and, when configured, on PostgreSQL; the sim's
application databases are seeded once per session and copied (see app_dbs.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app_db_fixtures import app_db_template, copied_app_dbs  # noqa: F401  (fixtures)
from tests.e2e.databases import BACKENDS, Databases


@pytest.fixture(scope="module", params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    made = Databases(request.param, tmp_path_factory.mktemp(f"e2e-{request.param}"))
    try:
        yield made
    finally:
        made.drop_all()
