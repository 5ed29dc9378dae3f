"""Can the bot start on this database? Every reason it cannot, as sentences, before anything runs.

`ionbot serve` lists these beside the configuration's and the runbook's problems (bot/startup.py):
an unsupported URL, a PostgreSQL that cannot be reached or is read-only (a standby), a SQLite
folder that cannot be created or written, and a SQLite store that held the bot's state before
and is gone or empty now (bot/store/embedded.py). Passwords never appear: URLs are redacted.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sqlalchemy import text

from bot.store.db import UnsupportedDatabase, create_engine_for, normalise_url, redact_url
from bot.store.embedded import lost_store_problem
from bot.store.health import sqlite_file
from bot.store.outage import reason

CONNECT_TIMEOUT_SECONDS = 10.0


async def database_problems(url: str, *, new_store: bool = False) -> list[str]:
    """Every reason ``url`` cannot hold the bot's state now (empty when it can)."""
    try:
        parsed = normalise_url(url)
    except UnsupportedDatabase as error:
        return [f"ION_DATABASE_URL: {error}"]
    except Exception:  # not a URL at all (its text is not repeated: it may hold a password)
        return ["ION_DATABASE_URL: is not a database URL; use sqlite:///path.db or postgresql://user@host/db."]
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        return [] if path is None else _sqlite_problems(path, new_store)
    return await _postgres_problems(url)


def _sqlite_problems(path: Path, new_store: bool) -> list[str]:
    folder = path.parent
    if not folder.exists():
        try:
            folder.mkdir(parents=True)
        except OSError as error:
            return [
                f"ION_DATABASE_URL: the folder {folder} for the SQLite store cannot be created "
                f"({error.strerror or error}); create it, or point ION_DATABASE_URL at a writable place."
            ]
    problems = []
    if not os.access(folder, os.W_OK | os.X_OK):
        problems.append(
            f"ION_DATABASE_URL: the folder {folder} of the SQLite store is not writable (SQLite writes its "
            "-wal and -shm files beside the store); make it writable or choose another place."
        )
    if path.exists() and not os.access(path, os.W_OK):
        problems.append(f"ION_DATABASE_URL: the SQLite store {path} is read-only; make it writable.")
    lost = lost_store_problem(path, new_store=new_store)
    if lost:
        problems.append(lost)
    if not problems and not path.exists():
        _set_aside_leftovers(path)
    return problems


def _set_aside_leftovers(path: Path) -> None:
    """A -wal or -shm file left by a removed store would be replayed into the new one: renamed, kept."""
    for suffix in ("-wal", "-shm"):
        leftover = path.with_name(path.name + suffix)
        if leftover.exists():
            leftover.rename(leftover.with_name(leftover.name + f".left-{int(leftover.stat().st_mtime)}"))


async def _postgres_problems(url: str) -> list[str]:
    shown = redact_url(url)
    engine = create_engine_for(url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS), engine.connect() as connection:
            read_only = await connection.scalar(text("SHOW transaction_read_only"))
    except TimeoutError:
        return [
            f"ION_DATABASE_URL: the database at {shown} did not answer within {CONNECT_TIMEOUT_SECONDS:.0f} s; "
            "check the host, the port and the firewall."
        ]
    except Exception as error:
        return [
            f"ION_DATABASE_URL: cannot reach the database at {shown} ({reason(error)}); check that it runs "
            "and the URL's host, port, user, password and database name."
        ]
    finally:
        await engine.dispose()
    if read_only == "on":
        return [f"ION_DATABASE_URL: the database at {shown} is read-only (a standby?); point it at the primary."]
    return []
