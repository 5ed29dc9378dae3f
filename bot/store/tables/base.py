"""The declarative base every table model shares: names, column types, the UTC datetime mapping.

Every datetime column is UtcDateTime: aware UTC on every backend.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase

from bot.store.columns import UtcDateTime, json_type

# Explicit names so migrations are stable and identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID = String(64)
SHORT = String(64)
NAME = String(200)
AUTO_ID = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime(), date: Date(), dict[str, Any]: json_type()}
