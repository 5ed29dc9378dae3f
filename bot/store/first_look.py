"""A request's first look (bot/engine/deliveries.py ``keep_first_look``): the channel's open run and
the settings its sender's roles depend on, read in one transaction instead of one each."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from bot.engine.ports import JSON
from bot.engine.records import Run
from bot.store.base import StoreBase
from bot.store.runs import open_run_of
from bot.store.settings import value_of

Looked = tuple[Run | None, dict[str, JSON | None]]


class FirstLookStore(StoreBase):
    async def first_look(self, channel: str, keys: Sequence[str]) -> Looked:
        return await self._read(_first_look, channel, tuple(keys))


def _first_look(connection: Connection, channel: str, keys: tuple[str, ...]) -> Looked:
    return open_run_of(connection, channel), {key: value_of(connection, key) for key in keys}
