"""The sim's application database: the tables day 1 of the runbook indexes, with enough rows
that an index changes the query plan (SQLite: SCAN personas -> SEARCH personas USING INDEX).

Deterministic (seeded) and built with executemany, so a test gets the same data in well under a second.
"""

from __future__ import annotations

import itertools
import operator
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.store.inline_sqlite import inline_connector

metadata = MetaData()

personas = Table(
    "personas",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(80), nullable=False),
    Column("tone", String(32), nullable=False),
    Column("pace", String(32), nullable=False),
    Column("intent", String(48), nullable=False),
    Column("prompt", Text, nullable=False),
)

user_preferences = Table(
    "user_preferences",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", String(40), nullable=False),
    Column("key", String(40), nullable=False),
    Column("value", String(80), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("session_id", String(40), nullable=False),
    Column("user_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

slow_query_log = Table(
    "slow_query_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("query", Text, nullable=False),
    Column("execution_time_ms", Float, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
)

TONES = ("calm", "warm", "direct", "playful", "formal", "encouraging")
PACES = ("flowing", "brisk", "steady", "slow", "measured")
INTENTS = (
    "seek_advice",
    "vent",
    "plan_career",
    "learn_skill",
    "reflect",
    "set_goal",
    "prepare_interview",
    "resolve_conflict",
    "build_habit",
    "explore",
    "celebrate",
    "check_in",
)
PREFERENCE_KEYS = ("language", "theme", "persona", "reminders", "timezone")

# The seed's "expected findings" of day 1.1: (query, typical ms).
SLOW_QUERIES = (
    ("SELECT * FROM personas WHERE tone = ? AND pace = ? AND intent = ?", 8.0),
    ("SELECT * FROM user_preferences WHERE user_id = ? ORDER BY created_at DESC", 5.0),
    ("SELECT intent, count(*) FROM sessions JOIN personas ON ... GROUP BY intent", 22.0),
    ("INSERT INTO sessions (session_id, user_id, created_at, last_seen) VALUES ...", 12.0),
)

SEED_NOW = datetime(2026, 4, 20, 9, 0, tzinfo=UTC)
SEED_CHUNK = 2_000  # rows per INSERT while seeding


@dataclass(frozen=True)
class AppDbSize:
    personas: int = 20_000
    users: int = 2_000
    preferences: int = 20_000
    sessions: int = 20_000
    slow_queries: int = 400


async def create_app_db(
    path_or_url: str | Path,
    *,
    size: AppDbSize = AppDbSize(),
    now: datetime = SEED_NOW,
    seed: int = 17,
) -> AsyncEngine:
    """An engine on a freshly seeded application database (a SQLite path, or any SQLAlchemy URL)."""
    text = str(path_or_url)
    engine = create_async_engine(text) if "://" in text else _own_file(Path(text))
    await seed_app_db(engine, size=size, now=now, seed=seed)
    return engine


def _own_file(path: Path) -> AsyncEngine:
    """An engine on a SQLite file this process alone uses: its statements run on the event loop's
    thread (bot/store/inline_sqlite.py), one connection at a time, so none waits on SQLite's lock
    and the simulation never waits on a worker thread's hand-off."""
    return create_async_engine(
        f"sqlite+aiosqlite:///{path}", async_creator=inline_connector(str(path)), pool_size=1, max_overflow=0
    )


async def copy_app_db(engine: AsyncEngine, path: Path, copy: Path) -> AsyncEngine:
    """An engine on a copy of the SQLite database at ``path`` (``engine``'s): its connections are
    closed first, so the copy has every row (WAL included); ``engine`` stays usable."""
    await engine.dispose()
    shutil.copyfile(path, copy)
    return _own_file(copy)


async def seed_app_db(
    engine: AsyncEngine, *, size: AppDbSize = AppDbSize(), now: datetime = SEED_NOW, seed: int = 17
) -> None:
    """(Re)create the tables on ``engine`` and fill them; the same seed gives the same rows."""
    rng = random.Random(seed)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
        await conn.run_sync(metadata.create_all)
        # In chunks, so the 60,000 rows are never all in memory at once.
        for table, rows in seed_rows(rng, size, now).items():
            while chunk := list(itertools.islice(rows, SEED_CHUNK)):
                if conn.dialect.name == "sqlite":
                    await conn.exec_driver_sql(*sqlite_insert(table, chunk))
                else:
                    await conn.execute(insert(table), chunk)


def seed_rows(rng: random.Random, size: AppDbSize, now: datetime) -> dict[Table, Iterator[dict[str, object]]]:
    """Each table's rows, drawn from ``rng`` as they are taken (so take them table by table, in order)."""
    return {
        personas: _personas(rng, size.personas),
        user_preferences: _preferences(rng, size, now),
        sessions: _sessions(rng, size, now),
        slow_query_log: _slow_queries(rng, size.slow_queries, now),
    }


def sqlite_insert(table: Table, chunk: list[dict[str, object]]) -> tuple[str, list[tuple[object, ...]]]:
    """The chunk as one driver-level INSERT with its rows as tuples: exactly what ``insert(table)``
    stores on SQLite (times as its DateTime writes them: the wall time with microseconds, no offset),
    without its per-row bind processing, which was most of the seeding's CPU, spent on the event
    loop the first time a step used the database."""
    columns = [column.name for column in table.columns]
    times = [i for i, column in enumerate(table.columns) if isinstance(column.type, DateTime)]
    values_of = operator.itemgetter(*columns)
    rows: list[tuple[object, ...]] = []
    for row in chunk:
        values = list(values_of(row))
        for i in times:
            values[i] = values[i].isoformat(" ", "microseconds")[:26]
        rows.append(tuple(values))
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    return sql, rows


def _personas(rng: random.Random, count: int) -> Iterator[dict[str, object]]:
    """Every (tone, pace, intent) appears once first, so any lookup the runbook writes finds rows."""
    combos = list(itertools.product(TONES, PACES, INTENTS))
    for i in range(1, count + 1):
        tone, pace, intent = combos[i - 1] if i <= len(combos) else rng.choice(combos)
        yield (
            {
                "id": i,
                "name": f"persona-{i:05d}",
                "tone": tone,
                "pace": pace,
                "intent": intent,
                "prompt": f"A {tone}, {pace} mentor for people who want to {intent.replace('_', ' ')}.",
            }
        )


def _user(rng: random.Random, users: int) -> str:
    return f"user-{rng.randrange(users):05d}"


def _preferences(rng: random.Random, size: AppDbSize, now: datetime) -> Iterator[dict[str, object]]:
    for i in range(1, size.preferences + 1):
        yield {
            "id": i,
            "user_id": _user(rng, size.users),
            "key": rng.choice(PREFERENCE_KEYS),
            "value": f"v{rng.randrange(50)}",
            "created_at": now - timedelta(minutes=rng.randrange(60 * 24 * 90)),
        }


def _sessions(rng: random.Random, size: AppDbSize, now: datetime) -> Iterator[dict[str, object]]:
    for i in range(1, size.sessions + 1):
        created = now - timedelta(minutes=rng.randrange(60 * 24 * 30))
        yield {
            "id": i,
            "session_id": f"s-{rng.getrandbits(48):012x}",
            "user_id": _user(rng, size.users),
            "created_at": created,
            "last_seen": created + timedelta(minutes=rng.randrange(90)),
        }


def _slow_queries(rng: random.Random, count: int, now: datetime) -> Iterator[dict[str, object]]:
    for i in range(1, count + 1):
        query, typical = rng.choice(SLOW_QUERIES)
        yield {
            "id": i,
            "query": query,
            "execution_time_ms": round(max(0.5, rng.gauss(typical, typical * 0.15)), 2),
            "timestamp": now - timedelta(minutes=rng.randrange(60 * 24 * 14)),
        }
