"""Seed the sim's application databases once per test session and copy the file for each build.

bootstrap.build seeds a fresh 60k-row SQLite application database per environment on every
build (most of its cost); the rows are the same every time (a fixed seed), so a copy is exact.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.sim import app_db

_seeded = app_db.create_app_db


class AppDbTemplate:
    def __init__(self) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="ion-e2e-appdb-"))
        self._template: Path | None = None

    async def create(
        self,
        path_or_url: str | Path,
        *,
        size: app_db.AppDbSize = app_db.AppDbSize(),
        now: datetime = app_db.SEED_NOW,
        seed: int = 17,
    ) -> AsyncEngine:
        """Same signature as ``create_app_db``; only SQLite paths of the default size are copied."""
        if "://" in str(path_or_url) or size != app_db.AppDbSize() or seed != 17:
            return await _seeded(path_or_url, size=size, now=now, seed=seed)
        if self._template is None:
            template = self._folder / "template.db"
            engine = await _seeded(template, size=size, now=now, seed=seed)
            await engine.dispose()
            self._template = template
        shutil.copyfile(self._template, path_or_url)
        return create_async_engine(f"sqlite+aiosqlite:///{path_or_url}")

    def remove(self) -> None:
        shutil.rmtree(self._folder, ignore_errors=True)
