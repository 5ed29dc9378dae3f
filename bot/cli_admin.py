"""``ionbot audit`` and ``ionbot db``: read the audit log and manage the schema of the state store.

Both read the database URL from the settings (ION_DATABASE_URL). Whatever goes wrong is one
sentence on stderr and exit code 1: a person at a terminal, not a traceback. The store and
Alembic are imported when a command runs, so ``ionbot check`` does not pay for them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.engine.records import AuditEntry


DEFAULT_ENTRIES = 50


class CannotRead(Exception):
    """The audit log cannot be read; the message is the sentence to print."""


def _err(text: str) -> None:
    print(text, file=sys.stderr)


def _database_url() -> str:
    """The configured URL, checked without connecting; raises CannotRead with the reason."""
    from sqlalchemy.exc import ArgumentError

    from bot.config import ConfigError, load_settings
    from bot.store.db import UnsupportedDatabase, normalise_url

    try:
        url = load_settings().database_url
    except ConfigError as error:
        raise CannotRead(str(error).replace("\n", " ").replace("  ", " ")) from None
    try:
        normalise_url(url)
    except UnsupportedDatabase as error:
        raise CannotRead(f"ION_DATABASE_URL is not usable: {error}") from None
    except ArgumentError:
        raise CannotRead(
            f"ION_DATABASE_URL ({url!r}) is not a database URL; nothing was read. "
            "Use sqlite:///path.db or postgresql://user@host/db."
        ) from None
    return url


def _entry_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("use 0 for every entry, or a positive number")
    return value


# --- audit ------------------------------------------------------------------------------------


def register_audit(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("audit", help="print the append-only audit log (newest last)")
    parser.add_argument("--run", metavar="ID", default=None, help="only the entries of this run")
    parser.add_argument("--json", action="store_true", help="a JSON array instead of one line per entry")
    parser.add_argument(
        "-n",
        type=_entry_count,
        default=DEFAULT_ENTRIES,
        metavar="N",
        help=f"the newest N entries (default {DEFAULT_ENTRIES}; 0 for all)",
    )
    parser.set_defaults(handler=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from bot.engine.audit import format_audit

    try:
        url = _database_url()
        entries = asyncio.run(read_audit(url, args.run, args.n or None))
    except CannotRead as problem:
        _err(str(problem))
        return 1
    print(format_audit(entries, as_json=args.json))
    return 0


async def read_audit(url: str, run_id: str | None, limit: int | None) -> list[AuditEntry]:
    """The entries, oldest first; refuses a database that is missing or behind this bot's schema."""
    from sqlalchemy.exc import SQLAlchemyError

    from bot.store.migrate import current_revision, head_revision, url_without_password
    from bot.store.repository import SqlStore

    shown = url_without_password(url)
    try:
        revision = await current_revision(url)
    except (SQLAlchemyError, OSError) as error:
        raise CannotRead(f"Could not open the database at {shown}: {_first_line(error)}; nothing was read.") from None
    head = head_revision()
    if revision != head:
        raise CannotRead(
            f"The database at {shown} is at revision {revision or 'none'} but this bot needs {head}; "
            "nothing was read. Run `ionbot db upgrade` first."
        )
    store = SqlStore.open(url)
    try:
        if run_id is not None and await store.get_run(run_id) is None:
            raise CannotRead(
                f"There is no run {run_id} in the database at {shown}; nothing was read. "
                "Leave out --run to see every run's entries."
            )
        return await store.audit(run_id, limit)
    except SQLAlchemyError as error:
        raise CannotRead(f"Could not read the audit log at {shown}: {_first_line(error)}.") from None
    finally:
        await store.close()


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# --- db ---------------------------------------------------------------------------------------


def register_db(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("db", help="the state store's schema: upgrade it, or show its revision")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser("upgrade", help="bring the database (ION_DATABASE_URL) up to this bot's schema")
    upgrade.set_defaults(handler=run_db_upgrade)
    current = actions.add_parser("current", help="print the database's revision; exit 1 when it is behind")
    current.set_defaults(handler=run_db_current)


def run_db_upgrade(args: argparse.Namespace) -> int:
    from bot.store.cli import db_upgrade

    try:
        url = _database_url()
    except CannotRead as problem:
        _err(str(problem))
        return 1
    return db_upgrade(url)


def run_db_current(args: argparse.Namespace) -> int:
    from bot.store.cli import db_current

    try:
        url = _database_url()
    except CannotRead as problem:
        _err(str(problem))
        return 1
    return db_current(url)
