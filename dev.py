#!/usr/bin/env python3
"""Bootstrap for a fresh machine with only Python 3.11+: makes .venv, installs, then runs.

    python3 dev.py run     # the bot on its embedded defaults (SQLite, console, simulated cloud)
    python3 dev.py test    # the whole test suite
    python3 dev.py check   # ruff + mypy

Extra arguments go to the underlying command (``python3 dev.py run --clock virtual``).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".ionbot-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        path = ROOT / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    """Create and fill .venv once; reinstall only when pyproject or constraints change."""
    if sys.version_info < (3, 11):
        sys.exit(f"ionbot needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not (BIN / "python").exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    print("installing dependencies into .venv (about a minute the first time) ...", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    constraints = ["-c", str(ROOT / "constraints.txt")] if (ROOT / "constraints.txt").exists() else []
    subprocess.run([*pip, "-e", f"{ROOT}[dev]", *constraints], check=True, cwd=ROOT)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "check", "simulate"):
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    python = str(BIN / "python")
    if command == "run":
        args = [python, "-m", "bot", "console", *rest]
    elif command == "simulate":
        args = [python, "-m", "bot", "simulate", *rest]
    elif command == "test":
        args = [python, "-m", "pytest", *rest]
    else:
        code = subprocess.call([python, "-m", "ruff", "check", "bot", "tests", "bench"], cwd=ROOT)
        return code or subprocess.call([python, "-m", "mypy"], cwd=ROOT)
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
