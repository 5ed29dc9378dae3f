"""Each test builds a whole bot; the sim's application databases are seeded once per session and
copied (tests/e2e/app_dbs.py), which is most of what a build costs."""

from __future__ import annotations

from tests.app_db_fixtures import app_db_template, copied_app_dbs  # noqa: F401  (fixtures)
