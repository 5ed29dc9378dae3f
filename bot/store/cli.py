"""``ionbot db upgrade | current``: the functions bot/cli.py wires in. They print and return an exit code."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import UnsupportedDatabase, normalise_url
from bot.store.embedded import lost_store_problem
from bot.store.migrate import current_revision, head_revision, upgrade, url_without_password


def db_upgrade(url: str) -> int:
    """Upgrade the database to this bot's head revision; 0 on success, 1 on failure."""
    shown = url_without_password(url)
    problem = _unreachable(url)
    if problem is None:
        try:
            before, after = asyncio.run(_upgrade(url))
        except (SQLAlchemyError, OSError) as error:
            problem = _reason(error)
    if problem is not None:
        print(f"Could not upgrade the database at {shown}: {problem}. Nothing was changed.")
        print("Check the URL and that the database is reachable, then run `ionbot db upgrade` again.")
        return 1
    if before == after:
        print(f"The database at {shown} is already at revision {after} (head); nothing to do.")
    else:
        print(f"Upgraded the database at {shown} from revision {before or 'none'} to {after}.")
    return 0


def db_current(url: str) -> int:
    """Print the database's revision and this bot's head; 0 when they match, 1 otherwise."""
    shown = url_without_password(url)
    problem = _unreachable(url)
    current: str | None = None
    if problem is None:
        try:
            current = asyncio.run(current_revision(url))
        except (SQLAlchemyError, OSError) as error:
            problem = _reason(error)
    if problem is not None:
        print(f"Could not read the revision of the database at {shown}: {problem}.")
        return 1
    head = head_revision()
    if current == head:
        print(f"The database at {shown} is at revision {current} (head).")
        return 0
    print(f"The database at {shown} is at revision {current or 'none'}; this bot needs {head}.")
    print("Run `ionbot db upgrade` to bring it up to date.")
    return 1


async def _upgrade(url: str) -> tuple[str | None, str | None]:
    before = await current_revision(url)
    await upgrade(url)
    return before, await current_revision(url)


def _unreachable(url: str) -> str | None:
    """A reason the URL cannot work, found without connecting (unsupported driver, missing folder)."""
    try:
        parsed = normalise_url(url)
    except UnsupportedDatabase as error:
        return str(error)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database).expanduser().resolve()
        if not path.parent.is_dir():
            return f"the folder {path.parent} does not exist"
        lost = lost_store_problem(path, new_store=False)  # an upgrade would make the lost store anew, empty
        if lost:
            return lost.removeprefix("ION_DATABASE_URL: ")
    return None


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
