"""Durable state: SQLAlchemy 2 models, the SqlStore repository and Alembic migrations."""
