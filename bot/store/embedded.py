"""Has this SQLite path held the bot's state before? Then an empty file there is a lost store.

SQLite makes a new, empty database wherever it is pointed, so a store file deleted (or a volume
not mounted) would silently start the bot afresh and forget the run. `ionbot serve` therefore
records each embedded store it runs on, by absolute path, in a small file of the user's state
folder (``$XDG_STATE_HOME/ionbot/sqlite-stores.txt``, by default ``~/.local/state/ionbot/``),
outside the store's own folder so a ``rm ion.db*`` cannot take the record with it. A recorded
path whose file is missing or has no tables refuses to start until the file is restored or the
person says ``ionbot serve --new-store``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

NEW_STORE_FLAG = "--new-store"


def known_stores_file() -> Path:
    """Where the embedded stores this user's bot ran on are recorded (one absolute path a line)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "ionbot" / "sqlite-stores.txt"


def held_a_store(path: Path) -> bool:
    try:
        lines = known_stores_file().read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return str(path.resolve()) in lines


def remember(path: Path) -> str | None:
    """Record ``path`` as holding a store; returns a warning sentence when the record cannot be written."""
    record = known_stores_file()
    if held_a_store(path):
        return None
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("a", encoding="utf-8") as out:
            out.write(str(path.resolve()) + "\n")
    except OSError as error:
        return (
            f"could not record {path} in {record} ({error.strerror or error}); a deleted store there "
            "would not be noticed at the next start"
        )
    return None


def lost_store_problem(path: Path, *, new_store: bool) -> str | None:
    """A sentence when ``path`` held a store before and is now missing or empty; None otherwise."""
    if new_store or not held_a_store(path):
        return None
    if not path.exists():
        state = "the file is gone"
    elif not _has_tables(path):
        state = "the file there is empty now"
    else:
        return None
    return (
        f"ION_DATABASE_URL: the SQLite store {path} held this bot's state before (recorded in "
        f"{known_stores_file()}), but {state}; ionbot will not start on an empty store and forget the run. "
        f"Restore the file (with its -wal file) from a backup, or start afresh on purpose with "
        f"`ionbot serve {NEW_STORE_FLAG}`."
    )


def _has_tables(path: Path) -> bool:
    """Opened read-only, so looking never creates or changes anything."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            return bool(connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])
    except sqlite3.Error:
        return False
