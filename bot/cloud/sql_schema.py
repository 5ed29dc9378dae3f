"""The schema side of sql.execute: what a CREATE / DROP INDEX or CREATE TABLE statement does, whether
its object is in place on SQLite, PostgreSQL or MySQL, and running one such statement in the form
each engine takes (CONCURRENTLY on PostgreSQL, online and with its table on MySQL)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.cloud.sql_target import SqlTargetError, engine_of, index_statement

_NAME = r'(?P<name>[\w."]+)'
_FORMS: tuple[tuple[str, Literal["index", "table"], bool], ...] = (
    (
        rf"CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+ON\b",
        "index",
        True,
    ),
    (rf"DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?{_NAME}", "index", False),
    (rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}", "table", True),
)
_DATA_CHANGE = re.compile(r"\s*(?:UPDATE|INSERT|DELETE)\b", re.IGNORECASE)

# present: exists and usable; invalid: a PostgreSQL index a failed concurrent build left behind.
ObjectState = Literal["present", "invalid", "absent"]


@dataclass(frozen=True)
class SchemaEffect:
    """What a statement does to the schema: ``kind`` ``name`` ends up present (or absent)."""

    kind: Literal["index", "table"]
    name: str
    present_after: bool

    @property
    def wanted(self) -> ObjectState:
        return "present" if self.present_after else "absent"


def schema_effect(sql: str) -> SchemaEffect | None:
    """The effect of one CREATE INDEX / DROP INDEX / CREATE TABLE statement; None for anything else."""
    statement = _one_statement(sql)
    if statement is None:
        return None
    for pattern, kind, present_after in _FORMS:
        match = re.match(pattern, statement, re.IGNORECASE)
        if match:
            return SchemaEffect(kind, _unquote(match.group("name")), present_after)
    return None


def is_data_change(sql: str) -> bool:
    """One UPDATE / INSERT / DELETE statement (the model requires its verify_sql and max_rows)."""
    statement = _one_statement(sql)
    return statement is not None and _DATA_CHANGE.match(statement) is not None


def _one_statement(sql: str) -> str | None:
    statement = sql.strip().rstrip(";").strip()
    return None if ";" in statement else statement


def _unquote(name: str) -> str:
    last = name.split(".")[-1]
    return last[1:-1] if last.startswith('"') and last.endswith('"') else last.lower()


async def object_state(engine: AsyncEngine, effect: SchemaEffect) -> ObjectState:
    """Whether the index or table exists and, on PostgreSQL, whether an index is valid (pg_index)."""
    async with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            query = text("SELECT count(*) FROM sqlite_master WHERE type = :kind AND lower(name) = :name")
            found = await conn.scalar(query, {"kind": effect.kind, "name": effect.name.lower()})
            return "present" if found else "absent"
        if conn.dialect.name == "postgresql":
            query = text(
                "SELECT to_regclass(:name) IS NOT NULL AS found, "
                "(SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)) AS valid"
            )
            row = (await conn.execute(query, {"name": f'"{effect.name}"'})).one()
            if not row.found:
                return "absent"
            return "invalid" if row.valid is False else "present"
        if engine_of(conn.dialect.name) == "mysql":
            table = "statistics" if effect.kind == "index" else "tables"
            column = "index_name" if effect.kind == "index" else "table_name"
            query = text(
                f"SELECT count(*) FROM information_schema.{table} "
                f"WHERE table_schema = DATABASE() AND lower({column}) = :name"
            )
            found = await conn.scalar(query, {"name": effect.name.lower()})
            return "present" if found else "absent"
        raise SqlTargetError(f"sql.execute supports SQLite, PostgreSQL and MySQL, not {conn.dialect.name}")


async def object_exists(engine: AsyncEngine, effect: SchemaEffect) -> bool:
    """Whether the index or table exists and is usable."""
    return await object_state(engine, effect) == "present"


async def build_in_progress(engine: AsyncEngine, name: str) -> bool:
    """Whether some session is building this index right now (it is INVALID until that finishes)."""
    async with engine.connect() as conn:
        if conn.dialect.name != "postgresql":
            return False
        query = text("SELECT EXISTS (SELECT 1 FROM pg_stat_progress_create_index WHERE index_relid = to_regclass(:n))")
        return bool(await conn.scalar(query, {"n": f'"{name}"'}))


async def run_statement(engine: AsyncEngine, sql: str, *, concurrently: bool = False) -> None:
    """Run one DDL statement and commit; a concurrent build runs in autocommit (PostgreSQL requires it)."""
    async with engine.connect() as conn:
        if engine_of(conn.dialect.name) == "mysql":
            sql = await _mysql_index_form(conn, sql)
        statement = index_statement(sql, conn.dialect.name, concurrently)
        if concurrently and conn.dialect.name == "postgresql":
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.exec_driver_sql(statement)
        await conn.commit()


_IF_EXISTS = re.compile(r"^(\s*(?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX)\s+IF\s+(?:NOT\s+)?EXISTS\b", re.IGNORECASE)
_DROP_WITHOUT_TABLE = re.compile(r"^\s*DROP\s+INDEX\s+(?P<name>[\w`]+)\s*;?\s*$", re.IGNORECASE)


async def _mysql_index_form(conn: AsyncConnection, sql: str) -> str:
    """MySQL's form of a DROP INDEX written for another engine: with the table MySQL needs it to name."""
    sql = _IF_EXISTS.sub(lambda m: m.group(1), sql, count=1)
    match = _DROP_WITHOUT_TABLE.match(sql)
    if match is None:
        return sql
    name = match.group("name").strip("`")
    query = text(
        "SELECT DISTINCT table_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND index_name = :name"
    )
    tables = list((await conn.execute(query, {"name": name})).scalars())
    if len(tables) != 1:
        return sql  # none (already gone) or ambiguous: the statement as written, and MySQL says why
    return f"DROP INDEX `{name}` ON `{tables[0]}`"


def drop_leftover(name: str) -> str:
    return f'DROP INDEX IF EXISTS "{name}"'
