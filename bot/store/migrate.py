"""Schema versions: upgrade to head, read the current revision, refuse to run on a stale schema.

The Alembic configuration is built here in code, so no alembic.ini is needed in the
working directory; the scripts ship inside the package (bot/store/migrations).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, make_url

from bot.store.db import SchemaBehind, create_engine_for, normalise_url

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser treats % as interpolation; escape it (passwords may contain it).
        config.set_main_option("sqlalchemy.url", normalise_url(url).render_as_string(False).replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "bot/store/migrations/versions holds no migration"
    return head


def known_revisions() -> set[str]:
    return {script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def url_without_password(url: str) -> str:
    """The URL as shown to people: user, host and database, never the password."""
    parsed = make_url(url)
    bare = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return bare.render_as_string(hide_password=False)


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision`` (default: this bot's head)."""
    config = alembic_config(url)

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """The revision the database is at; None for a database never migrated."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def bring_to_head(url: str, auto_upgrade: bool) -> None:
    """Upgrade (``auto_upgrade``) or refuse, in words, a database not at head; see ``ensure_schema``."""
    current = await current_revision(url)
    needed = head_revision()
    if current == needed:
        return
    if current is not None and current not in known_revisions():
        raise SchemaBehind(
            f"the database at {url_without_password(url)} is at revision {current}, which this bot "
            f"does not know (it needs {needed}); nothing was changed. A newer ionbot probably upgraded "
            "it: run that version, or restore a backup taken before the upgrade."
        )
    if auto_upgrade:
        await upgrade(url)
        return
    raise SchemaBehind(
        f"the database at {url_without_password(url)} is at revision {current or 'none'} "
        f"but this bot needs {needed}; run `ionbot db upgrade`"
    )
