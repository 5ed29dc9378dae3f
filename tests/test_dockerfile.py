"""The Dockerfile, checked without a Docker engine (none runs here): what it copies exists, what it
installs is pinned, it runs ``ionbot serve`` as a non-root user, its HEALTHCHECK command really
tells a healthy bot from an unhealthy one, and the bot starts from the image's layout and ENV."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.local_http import free_port, http_status

ROOT = Path(__file__).resolve().parent.parent
LINES = [line.strip() for line in (ROOT / "Dockerfile").read_text().replace("\\\n", " ").splitlines()]


def _instructions(name: str) -> list[str]:
    return [line[len(name) + 1 :].strip() for line in LINES if line.startswith(name + " ")]


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _base() -> str:
    """The first FROM with ARG BASE's default put in: what a build without --build-arg starts from."""
    defaults = dict(arg.split("=", 1) for arg in _instructions("ARG") if "=" in arg)
    return _instructions("FROM")[0].replace("${BASE}", defaults.get("BASE", "${BASE}"))


def test_a_slim_base_a_non_root_user_and_ionbot_serve_as_the_command() -> None:
    assert _base().startswith("python:3.11-slim")
    assert _instructions("USER") == ["ion"]
    assert LINES.index("USER ion") > max(i for i, line in enumerate(LINES) if line.startswith("RUN "))
    assert _instructions("CMD") == ['["ionbot", "serve"]']
    assert any("ION_LOG_FORMAT=json" in env for env in _instructions("ENV"))


def test_pip_installs_into_a_venv_made_first_so_a_debian_python_base_works_too() -> None:
    """Debian's /usr/bin/python3 is externally managed (PEP 668): .ci/build-image's base needs the venv."""
    runs = [line for line in LINES if line.startswith("RUN ")]
    assert runs[0] == "RUN python3 -m venv /opt/venv"
    assert any(re.search(r"\bPATH=/opt/venv/bin:\$PATH\b", env) for env in _instructions("ENV"))
    assert LINES.index(runs[0]) < min(LINES.index(run) for run in runs if "pip install" in run)


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


def test_the_wheel_the_image_installs_carries_every_data_file_of_the_package() -> None:
    """The image runs the installed wheel, not the checkout: a file package-data misses (the web
    timeline's static files and templates were) makes ``ionbot serve`` fail at start."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bot"]
    assert all(re.fullmatch(r"\*\*/\*\.\w+", pattern) for pattern in patterns)
    shipped = {pattern.rsplit(".", 1)[1] for pattern in patterns}
    data = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "bot").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".py", ".pyc")
    ]
    assert data and [name for name in data if name.rsplit(".", 1)[-1] not in shipped] == []


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


def _image_env(root: Path) -> dict[str, str]:
    """The Dockerfile's ENV lines, with the image's /app and /data moved under ``root``."""
    env: dict[str, str] = {}
    for line in _instructions("ENV"):
        for key, value in re.findall(r"(\w+)=(\S+)", line):
            if "$" in value or key == "VIRTUAL_ENV":
                continue  # the image's venv on PATH: here that python is sys.executable
            env[key] = value.replace("/app/", f"{root}/app/").replace("/data/", f"{root}/data/")
    return env


def test_ionbot_serve_runs_from_the_image_layout_with_its_env_and_passes_its_healthcheck(tmp_path: Path) -> None:
    """The package outside the repository (as pip installs it), the runbooks and templates where the
    image copies them, the image's ENV: what runs in the container, short of the container."""
    site, app = tmp_path / "site", tmp_path / "app"
    shutil.copytree(ROOT / "bot", site / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for folder in ("runbooks", "templates"):
        shutil.copytree(ROOT / folder, app / folder)
    (tmp_path / "data").mkdir()
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(site),
        **_image_env(tmp_path),
        "ION_HOST": "127.0.0.1",
        "PORT": str(port),
        "SLACK_BOT_TOKEN": "xoxb-image-rehearsal",
        "SLACK_SIGNING_SECRET": "image-rehearsal-secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never called before a request arrives
    }
    assert env["ION_RUNBOOK"] == f"{tmp_path}/app/runbooks/week17.yaml"
    (command,) = _instructions("CMD")
    assert command == '["ionbot", "serve"]'
    server = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        ready = 0
        while time.monotonic() < deadline and server.poll() is None and ready != 200:
            ready = http_status(f"http://127.0.0.1:{port}/readyz")
            time.sleep(0.1)
        assert ready == 200, f"not ready: {ready}"
        (healthcheck,) = _instructions("HEALTHCHECK")
        snippet = re.fullmatch(r'python -c "(.*)"', healthcheck.split(" CMD ", 1)[1])
        assert snippet is not None
        check = subprocess.run(
            [sys.executable, "-c", snippet.group(1).replace('\\"', '"')], env=env, capture_output=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        assert (tmp_path / "data" / "ion.db").is_file()  # ION_DATABASE_URL from the image, built at start
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=30)
    lines = output.decode().splitlines()
    assert any('"event": "ionbot ready"' in line for line in lines), lines[-5:]
    assert not any("xoxb-image-rehearsal" in line or "image-rehearsal-secret" in line for line in lines)
