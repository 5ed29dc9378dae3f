"""The image .ci/build-image builds (buildah on a Debian bookworm base: no Docker daemon, no Docker
Hub), run for real: its ``ionbot serve`` answers /healthz as the non-root user ion, and the image's
own HEALTHCHECK command passes inside it. Only with ION_TEST_IMAGE=1, which .ci/run sets once it has
tried the build (a failed build fails here, with its log, instead of hiding the rest of the suite)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local_http import free_port, http_status

pytestmark = pytest.mark.skipif(
    os.environ.get("ION_TEST_IMAGE") != "1",
    reason="ION_TEST_IMAGE=1 is not set: .ci/run builds the image first (.ci/build-image: buildah, root, minutes)",
)

IMAGE = os.environ.get("ION_IMAGE", "localhost/ionbot:ci")
BUILDAH_ENV = {**os.environ, "STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}
SECRETS = {"SLACK_BOT_TOKEN": "xoxb-image-test", "SLACK_SIGNING_SECRET": "image-test-secret"}


def _buildah(*args: str) -> str:
    result = subprocess.run(["buildah", *args], env=BUILDAH_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"buildah {' '.join(args)}: {result.stderr}"
    return result.stdout


def _require_the_build() -> None:
    """A failed .ci/build-image (as .ci/run reports it) fails here with the end of its log."""
    code = os.environ.get("ION_IMAGE_BUILD_RC", "0")
    if code != "0":
        log = Path(os.environ.get("ION_IMAGE_BUILD_LOG", "/dev/null"))
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.is_file() else "(no log)"
        pytest.fail(f".ci/build-image exited {code}; the end of its log ({log}):\n{tail}")
    if shutil.which("buildah") is None:
        pytest.fail("ION_TEST_IMAGE=1 but buildah is not installed: run .ci/build-image first")


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    _require_the_build()
    image: dict[str, Any] = json.loads(_buildah("inspect", "--type", "image", IMAGE))
    docker_config: dict[str, Any] = image["Docker"]["config"]
    return docker_config


@pytest.fixture
def container(config: dict[str, Any]) -> Iterator[str]:
    name = f"ion-image-test-{os.getpid()}"
    _buildah("from", "--pull-never", "--name", name, IMAGE)
    try:
        yield name
    finally:
        _buildah("rm", name)


def _uids_of_descendants(pid: int) -> dict[int, int]:
    """Real uid of every process below ``pid`` (buildah run's chroot child runs the image's CMD)."""
    children: dict[int, list[int]] = {}
    uids: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = dict(line.split(":\t", 1) for line in (entry / "status").read_text().splitlines() if ":\t" in line)
        except OSError:
            continue
        children.setdefault(int(status["PPid"]), []).append(int(entry.name))
        uids[int(entry.name)] = int(status["Uid"].split()[0])
    found: dict[int, int] = {}
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found[child] = uids[child]
        todo.extend(children.get(child, []))
    return found


def test_the_image_runs_as_the_non_root_user_ion(config: dict[str, Any], container: str) -> None:
    assert config["User"] == "ion"
    assert config["Cmd"] == ["ionbot", "serve"]
    assert _buildah("run", container, "--", "id", "-un").strip() == "ion"
    assert _buildah("run", container, "--", "id", "-u").strip() != "0"


def test_ionbot_serve_in_the_image_answers_healthz_and_passes_the_image_healthcheck(
    config: dict[str, Any], container: str
) -> None:
    port = free_port()
    env = ["--env", f"PORT={port}", "--env", "ION_HOST=127.0.0.1"]
    env += [arg for key, value in SECRETS.items() for arg in ("--env", f"{key}={value}")]
    env += ["--env", "SLACK_API_URL=http://127.0.0.1:9/api/"]  # never called before a request arrives
    run = ["buildah", "run", "--network", "host", *env, container, "--", *config["Cmd"]]
    server = subprocess.Popen(run, env=BUILDAH_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while time.monotonic() < deadline and server.poll() is None and ready != 200:
            ready = http_status(f"http://127.0.0.1:{port}/readyz")
            time.sleep(0.2)
        assert ready == 200, f"/readyz from the image: {ready}"
        assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
        serving = [uid for uid in _uids_of_descendants(server.pid).values() if uid != 0]
        assert serving and all(uid == 10001 for uid in serving), _uids_of_descendants(server.pid)
        kind, command = config["Healthcheck"]["Test"]
        assert kind == "CMD-SHELL"
        check = subprocess.run(
            ["buildah", "run", "--network", "host", "--env", f"PORT={port}", container, "--", "sh", "-c", command],
            env=BUILDAH_ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stderr
    finally:
        server.terminate()
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate(timeout=30)
    lines = output.decode(errors="replace").splitlines()
    assert any('"event": "ionbot ready"' in line for line in lines), lines[-5:]
    assert not any(secret in line for line in lines for secret in SECRETS.values())
