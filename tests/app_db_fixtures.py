"""Seed the sim's application databases once per session and copy them for each bot build.

Seeding is most of what a bot build costs; suites that build many bots import these fixtures
in their conftest.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.sim import app_db
from tests.e2e.app_dbs import AppDbTemplate


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
