"""A PostgreSQL server of the test's own, on a temporary data directory and port, that a test may
stop and start again (the shared server on 5432 must never be stopped under other tests).

It needs PostgreSQL's server binaries (``initdb``, ``pg_ctl``); without them the tests that use it
are skipped, except in CI (CI=true), where that is a failure. As root, the server runs as the
``postgres`` user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.local_http import free_port


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda f: int(Path(f).parent.name))
    for folder in reversed(folders):
        if (Path(folder) / "pg_ctl").exists() and (Path(folder) / "initdb").exists():
            return Path(folder)
    return None


class StoppableCluster:
    """``start``, ``stop`` (fast: open connections are cut, as in a crash or a failover) and ``url``."""

    def __init__(self, binaries: Path, folder: Path) -> None:
        self.binaries = binaries
        self.folder = folder
        self.data = folder / "data"
        self.port = free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(folder, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as, str(self.binaries / program), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr or done.stdout}")


def stoppable_cluster(folder: Path) -> StoppableCluster:
    """A new, started cluster in ``folder``; skips (or fails in CI) without the server binaries."""
    binaries = server_binaries()
    if binaries is None or (os.geteuid() == 0 and not _has_postgres_user()):
        reason = "PostgreSQL's server binaries (initdb, pg_ctl) or its postgres user are missing"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI is true but {reason}, so the database outage tests could not run.")
        pytest.skip(f"{reason}; the database outage tests need a server they may stop")
    cluster = StoppableCluster(binaries, folder)
    cluster.init()
    cluster.start()
    return cluster


def _has_postgres_user() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return True
