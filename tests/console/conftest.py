"""The bot's logs go to a file during these tests, as they do in `ionbot console`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.console.runner import logs_to_file


@pytest.fixture(autouse=True)
def bot_logs_in_a_file(tmp_path: Path) -> Iterator[Path]:
    with logs_to_file(tmp_path / "bot.log") as path:
        yield path
