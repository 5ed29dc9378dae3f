"""Alembic scripts for the store schema (a package so they ship in wheels and images)."""
