"""`ionbot serve` as a real process, for the tests that change its store under it or its settings.

As root, the process runs without root's powers: a read-only file means nothing to root, whose
writes the kernel never refuses. ``unshare -U`` starts it in a user namespace of its own, where it
keeps uid 0 for the files (so it can run the interpreter in a checkout only root may enter, as a
fresh CI clone is) but has no capability over them outside, so modes are obeyed as for any user.
Where user namespaces are not allowed it runs as ``nobody`` instead (the checkout must then be
readable by everyone).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from tests.slack_app.conftest import RUNBOOK, SECRET, signed

REPO = Path(__file__).resolve().parents[2]
POLLS = 1500


@functools.cache
def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "-U", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def as_user() -> str | None:
    """Another user for the bot when the tests run as root and no user namespace can be made."""
    return "nobody" if os.geteuid() == 0 and not _can_unshare() else None


def command(*args: str) -> list[str]:
    """``python -m bot ARGS``, without root's powers when the tests run as root (see the module's note)."""
    base = [sys.executable, "-m", "bot", *args]
    return ["unshare", "-U", *base] if os.geteuid() == 0 and _can_unshare() else base


def own_folder(prefix: str) -> Path:
    """A new folder the bot's user owns (/tmp, not pytest's tmp_path: that one is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    user = as_user()
    if user is not None:
        account = pwd.getpwnam(user)
        os.chown(folder, account.pw_uid, account.pw_gid)
    return folder


def serve_env(folder: Path, slack_api_url: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(folder),
        "XDG_STATE_HOME": str(folder / "state"),
        "ION_CLOUD": "sim",
        "ION_HOST": "127.0.0.1",
        "PORT": "0",
        "ION_RUNBOOK": str(RUNBOOK),
        "ION_DATABASE_URL": f"sqlite+aiosqlite:///{folder}/store/ion.db",
        "ION_LOG_FORMAT": "json",
        "ION_LOG_LEVEL": "INFO",
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack_api_url,
    }
    return {**env, **extra}


class Served:
    """A running `ionbot serve`: its port, its stderr lines so far, and the requests Slack would send."""

    def __init__(self, process: asyncio.subprocess.Process, http: aiohttp.ClientSession) -> None:
        self.process = process
        self.http = http
        self.lines: list[str] = []
        self.port = 0
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            if not self.port and line.startswith("{"):
                event = json.loads(line)
                if event.get("event", "").startswith("ionbot listening"):
                    self.port = int(event["port"])

    async def listening(self) -> None:
        for _ in range(POLLS):
            if self.port or self.process.returncode is not None:
                break
            await asyncio.sleep(0.01)
        assert self.port, f"ionbot serve never said where it listens: {self.lines}"

    async def readyz(self) -> int:
        async with self.http.get(f"http://127.0.0.1:{self.port}/readyz") as response:
            return response.status

    async def until_ready(self, status: int = 200) -> None:
        for _ in range(POLLS):
            if await self.readyz() == status:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"/readyz never said {status}: {self.lines[-5:]}")

    async def command(self, text: str) -> tuple[int, str]:
        body = urlencode(
            {
                "command": "/ion",
                "text": text,
                "user_id": "U0LEE",
                "user_name": "lee",
                "channel_id": "C0ROLLOUT",
                "team_id": "T0ION",
                "trigger_id": "trigger-1",
                "response_url": "http://127.0.0.1:9/none",
            }
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded", **signed(body)}
        async with self.http.post(f"http://127.0.0.1:{self.port}/slack/events", data=body, headers=headers) as answer:
            return answer.status, await answer.text()

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()
        await self._reader


@asynccontextmanager
async def serving(env: dict[str, str], *args: str) -> AsyncIterator[Served]:
    process = await asyncio.create_subprocess_exec(
        *command("serve", *args),
        cwd=REPO,
        env=env,
        user=as_user(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with aiohttp.ClientSession() as http:
        served = Served(process, http)
        try:
            await served.listening()
            yield served
        finally:
            await served.stop()


async def refused(env: dict[str, str], *args: str) -> tuple[int, str]:
    """Run `ionbot serve` expecting it to refuse: its exit code and its stderr."""
    process = await asyncio.create_subprocess_exec(
        *command("serve", *args),
        cwd=REPO,
        env=env,
        user=as_user(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return int(process.returncode or 0), err.decode(errors="replace")


def remove_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
