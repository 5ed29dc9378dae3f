"""The application databases the runbook's sql.* actions talk to, by the name the runbook uses.

Names (``ion-primary-db``) map to SQLAlchemy URLs in configuration (``ION_SQL_TARGETS``), so a
runbook never holds a connection string. Also the small dialect differences those actions meet:
read-only transactions, EXPLAIN and concurrent index builds.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

ENV_VAR = "ION_SQL_TARGETS"


class SqlTargetError(LookupError):
    """A database name the configuration does not know, or a configuration that cannot be read."""


class SqlTargets:
    """Name -> AsyncEngine, created on first use from the configured URLs (or registered directly)."""

    def __init__(
        self,
        urls: Mapping[str, str] | None = None,
        *,
        engines: Mapping[str, AsyncEngine] | None = None,
    ) -> None:
        self._urls = dict(urls or {})
        self._engines: dict[str, AsyncEngine] = dict(engines or {})
        self._owned: set[str] = set()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SqlTargets:
        """Read ``ION_SQL_TARGETS`` (JSON object name -> URL); unset means no targets."""
        raw = (environ if environ is not None else os.environ).get(ENV_VAR, "").strip()
        if not raw:
            return cls()
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise SqlTargetError(
                f"{ENV_VAR} is not valid JSON ({exc.msg} at character {exc.pos}); set it to an object "
                'such as {"ion-primary-db": "postgresql+asyncpg://user@host/db"}'
            ) from None
        if not isinstance(parsed, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()
        ):
            raise SqlTargetError(f"{ENV_VAR} must be a JSON object of database name -> SQLAlchemy URL")
        return cls(parsed)

    def names(self) -> list[str]:
        return sorted(set(self._urls) | set(self._engines))

    def register(self, name: str, engine: AsyncEngine) -> None:
        """Use an existing engine for ``name`` (the sim's application database)."""
        self._engines[name] = engine

    def engine(self, name: str) -> AsyncEngine:
        if name in self._engines:
            return self._engines[name]
        url = self._urls.get(name)
        if url is None:
            known = ", ".join(self.names()) or "none"
            raise SqlTargetError(
                f"no SQL target named {name!r} is configured (configured: {known}); set {ENV_VAR} to "
                f'JSON such as {{"{name}": "postgresql+asyncpg://user@host/db"}}'
            )
        engine = create_async_engine(url, pool_pre_ping=True)
        self._engines[name] = engine
        self._owned.add(name)
        return engine

    async def dispose(self) -> None:
        """Close the engines this object created (registered ones belong to their owner)."""
        for name in sorted(self._owned):
            await self._engines.pop(name).dispose()
        self._owned.clear()


@dataclass(frozen=True)
class QueryResult:
    """Rows of one query, at most ``row_cap`` of them; ``truncated`` says more were there."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool = False

    def table(self) -> str:
        return format_table(self.columns, self.rows) + ("\n(more rows not shown)" if self.truncated else "")

    def text(self) -> str:
        """Every cell as one text, for ``expect`` matching."""
        return "\n".join(" | ".join(_cell(c) for c in row) for row in ((self.columns), *self.rows))


def _cell(value: Any) -> str:
    return "NULL" if value is None else str(value)


def format_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns (fits a Slack code block)."""
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    if not columns:
        return "(no columns)"

    def line(values: Sequence[str]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(row) for row in cells)])


_EXPLAIN = re.compile(r"^\s*EXPLAIN\b(?!\s+QUERY\s+PLAN\b)(?:\s+ANALYZE\b)?", re.IGNORECASE)


_NOW_MINUS_INTERVAL = re.compile(r"CURRENT_TIMESTAMP\s*-\s*INTERVAL\s*'(\d+)\s*(day|hour|minute)s?'", re.IGNORECASE)
# MySQL's form: NOW() - INTERVAL 7 DAY (or CURRENT_TIMESTAMP - INTERVAL 7 DAY).
_MYSQL_NOW_MINUS_INTERVAL = re.compile(
    r"(?:NOW\(\)|CURRENT_TIMESTAMP(?:\(\))?)\s*-\s*INTERVAL\s+(\d+)\s+(day|hour|minute)s?\b", re.IGNORECASE
)
# MySQL names the table of a DROP INDEX ("DROP INDEX idx ON personas"); SQLite and PostgreSQL do not.
_DROP_INDEX_ON = re.compile(r"^(\s*DROP\s+INDEX\s+(?:IF\s+EXISTS\s+)?[\w.\"`]+)\s+ON\s+[\w.\"`]+", re.IGNORECASE)

ENGINES = ("mysql", "postgresql", "sqlite")
_IF_EXISTS = re.compile(r"^\s+IF\s+(?:NOT\s+)?EXISTS\b", re.IGNORECASE)


def engine_of(dialect: str) -> str:
    """The engine a SQLAlchemy dialect name stands for (MariaDB speaks MySQL)."""
    return "mysql" if dialect in ("mysql", "mariadb") else dialect


def for_dialect(sql: str, dialect: str) -> str:
    """Rewrite the few constructs runbooks write in MySQL or PostgreSQL form for a SQLite target (the
    sim's application database stands in for either).

    SQLite's plain EXPLAIN prints bytecode; its ``EXPLAIN QUERY PLAN`` is what shows an index.
    SQLite has no INTERVAL: ``NOW() - INTERVAL 7 DAY`` (MySQL) and ``CURRENT_TIMESTAMP - INTERVAL '7 days'``
    (PostgreSQL) become ``datetime('now', '-7 days')``. ``DROP INDEX idx ON t`` loses ``ON t``
    on SQLite and PostgreSQL.
    """
    if engine_of(dialect) != "mysql":
        sql = _DROP_INDEX_ON.sub(lambda m: m.group(1), sql, count=1)
    if dialect == "sqlite":
        sql = _EXPLAIN.sub("EXPLAIN QUERY PLAN", sql, count=1)
        sql = _MYSQL_NOW_MINUS_INTERVAL.sub(lambda m: f"datetime('now', '-{m.group(1)} {m.group(2).lower()}s')", sql)
        return _NOW_MINUS_INTERVAL.sub(lambda m: f"datetime('now', '-{m.group(1)} {m.group(2).lower()}s')", sql)
    return sql


def engine_mismatch(written_for: str | None, dialect: str, database: str) -> str | None:
    """Why SQL written for ``written_for`` must not run on a ``dialect`` database; None when it may.

    SQLite stands in for any engine (the sim's application database), through ``for_dialect``.
    """
    engine = engine_of(dialect)
    if written_for is None or engine == written_for or engine == "sqlite":
        return None
    return (
        f"the runbook's SQL for this environment is written for {written_for} (its engine), but {database} is a "
        f"{engine} database, so nothing was run; point the SQL target at a {written_for} database or change "
        "the environment's engine and its SQL"
    )


_INDEX_VERB = re.compile(
    r"^(?P<verb>(?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX)(?P<concurrently>\s+CONCURRENTLY\b)?", re.IGNORECASE
)


def index_statement(sql: str, dialect: str, concurrently: bool) -> str:
    """The CREATE / DROP INDEX to send: with CONCURRENTLY on PostgreSQL when asked, online on MySQL
    (``ALGORITHM=INPLACE LOCK=NONE``: refused rather than locking writes), never on SQLite.

    SQLite has no concurrent build (and rejects the word); anything but an index statement is
    returned as written, without its trailing semicolon.
    """
    statement = for_dialect(sql.strip().rstrip(";").strip(), dialect) if dialect else sql.strip().rstrip(";").strip()
    match = _INDEX_VERB.match(statement)
    if match is None:
        return statement
    rest = statement[match.end() :]
    if dialect == "postgresql" and concurrently:
        return f"{match.group('verb')} CONCURRENTLY{rest}"
    if engine_of(dialect) == "mysql":
        rest = _IF_EXISTS.sub("", rest, count=1)  # MySQL 8 has none; the action checks the state itself
        # A DROP INDEX is a metadata change on InnoDB already (and MariaDB takes no options on it).
        building = match.group("verb").upper().startswith("CREATE")
        online = " ALGORITHM=INPLACE LOCK=NONE" if concurrently and building and "ALGORITHM" not in rest.upper() else ""
        return f"{match.group('verb')}{rest}{online}"
    if dialect == "sqlite":
        return f"{match.group('verb')}{rest}"
    return statement


async def begin_read_only(conn: AsyncConnection) -> None:
    """Make the current transaction refuse writes, at the database (not by parsing the SQL)."""
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("PRAGMA query_only = ON")
    elif conn.dialect.name == "postgresql":
        await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif engine_of(conn.dialect.name) == "mysql":
        # Before the transaction's first statement: it applies to the next transaction only.
        await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    else:
        raise SqlTargetError(
            f"read-only queries are supported on SQLite, PostgreSQL and MySQL, not {conn.dialect.name}"
        )


async def end_read_only(conn: AsyncConnection) -> None:
    """Undo ``begin_read_only`` before the connection goes back to the pool."""
    await conn.rollback()
    if conn.dialect.name == "sqlite":
        await conn.exec_driver_sql("PRAGMA query_only = OFF")
        await conn.commit()


async def read_only_query(engine: AsyncEngine, sql: str, row_cap: int) -> QueryResult:
    """Run one statement in a read-only transaction and keep at most ``row_cap`` rows."""
    async with engine.connect() as conn:
        await begin_read_only(conn)
        try:
            result = await conn.exec_driver_sql(for_dialect(sql, conn.dialect.name))
            if not result.returns_rows:
                return QueryResult(columns=(), rows=())
            columns = tuple(result.keys())
            fetched = result.fetchmany(row_cap + 1)
            rows = tuple(tuple(r) for r in fetched[:row_cap])
            return QueryResult(columns=columns, rows=rows, truncated=len(fetched) > row_cap)
        finally:
            await end_read_only(conn)
