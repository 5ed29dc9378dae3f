"""The Dockerfile, checked without a Docker engine (none runs here): what it copies exists, what it
installs is pinned, it runs ``ionbot serve`` as a non-root user, and its HEALTHCHECK command
really tells a healthy bot from an unhealthy one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINES = [line.strip() for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()]


def _instructions(name: str) -> list[str]:
    return [line[len(name) + 1 :].strip() for line in LINES if line.startswith(name + " ")]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_a_slim_base_a_non_root_user_and_ionbot_serve_as_the_command() -> None:
    assert _instructions("FROM")[0].startswith("python:3.11-slim")
    assert _instructions("USER") == ["ion"]
    assert LINES.index("USER ion") > max(i for i, line in enumerate(LINES) if line.startswith("RUN "))
    assert _instructions("CMD") == ['["ionbot", "serve"]']
    assert any("ION_LOG_FORMAT=json" in env for env in _instructions("ENV"))


def test_everything_it_copies_exists_and_every_install_is_pinned_by_the_constraints() -> None:
    for copy in _instructions("COPY"):
        *sources, _target = copy.split()
        for source in sources:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which is not in the repository"
    installs = [run for run in _instructions("RUN") if "pip install" in run]
    assert installs and all("-c constraints.txt" in run for run in installs)
    pinned = {_name(line): line for line in (ROOT / "constraints.txt").read_text().splitlines() if "==" in line}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    unpinned = [dep for dep in project["dependencies"] if _name(dep) not in pinned]
    assert unpinned == []


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("status", "code"), [(200, 0), (503, 1)])
def test_the_healthcheck_command_exits_0_only_for_a_200_from_healthz(
    health_server: ThreadingHTTPServer, status: int, code: int
) -> None:
    (healthcheck,) = _instructions("HEALTHCHECK")
    command = healthcheck.split(" CMD ", 1)[1]
    snippet = re.fullmatch(r'python -c "(.*)"', command)
    assert snippet is not None
    source = snippet.group(1).replace('\\"', '"')
    _Health.status = status
    env = {**os.environ, "PORT": str(health_server.server_address[1])}
    result = subprocess.run([sys.executable, "-c", source], env=env, capture_output=True, timeout=30)
    assert result.returncode == code
