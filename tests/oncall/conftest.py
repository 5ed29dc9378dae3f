"""The store tests' databases (SQLite, and PostgreSQL when ION_TEST_POSTGRES_URL is set)."""

from tests.store.conftest import database_url, migrated_postgres, migrated_sqlite_template

__all__ = ["database_url", "migrated_postgres", "migrated_sqlite_template"]
