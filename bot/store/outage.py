"""Which database errors mean "the store is unreachable or unwritable" rather than a bug.

A stopped PostgreSQL refuses connections (OSError), drops the ones in the pool (asyncpg's
connection errors, wrapped by SQLAlchemy as InterfaceError/OperationalError), or says it is
shutting down; a SQLite file that vanished or became read-only answers "unable to open",
"readonly database" or "disk I/O error". Those become ``StoreUnavailable`` at the store's edge.
"""

from __future__ import annotations

from sqlalchemy import exc as sa

# SQLite's and PostgreSQL's words for a store that cannot be opened or written (lowercased).
_OUTAGE_WORDS = (
    "unable to open database",
    "readonly database",
    "read-only",
    "disk i/o error",
    "database disk image is malformed",
    "no such table",
    "connection was closed",
    "connection is closed",
    "shutting down",
    "starting up",
    "terminating connection",
    "cannot connect now",
    "connection refused",
    "connect call failed",
    "server closed the connection",
)


def is_outage(error: BaseException) -> bool:
    """True when ``error`` (or what it wraps) says the database is down, gone or read-only."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | TimeoutError):
            return True
        if isinstance(current, sa.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sa.DBAPIError | sa.DisconnectionError) or _driver_error(current):
            if any(word in str(current).lower() for word in _OUTAGE_WORDS):
                return True
            if isinstance(current, sa.DisconnectionError | sa.InterfaceError):
                return True
        current = current.__cause__ or current.__context__
    return False


def _driver_error(error: BaseException) -> bool:
    """asyncpg's and sqlite3's own exception classes, recognised by module (neither is imported here)."""
    module = type(error).__module__
    return module.startswith("asyncpg") or module.startswith("sqlite3")


def reason(error: BaseException) -> str:
    """One line saying what the driver said, without a traceback (and without any password: drivers
    never print the URL)."""
    root: BaseException = error
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(root).strip().splitlines()
    return f"{type(root).__name__}: {text[0]}" if text else type(root).__name__
