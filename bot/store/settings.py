"""Settings (KeyValueStore): JSON values by key, the cards' state among them.

Prebuilt Core statements in transactions run at once (StoreBase._read/_write): a card redraw
writes its settings key every time (issue 14).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from bot.engine.ports import JSON
from bot.store.base import StoreBase, execute, upsert
from bot.store.tables import SettingRow

_SETTINGS = SettingRow.__table__.c
_VALUE = select(SettingRow.value).where(SettingRow.key == bindparam("key"))
_LOCKED_VALUE = _VALUE.with_for_update()
_SET_VALUE = (
    update(SettingRow.__table__)  # type: ignore[arg-type]
    .where(_SETTINGS.key == bindparam("b_key"))
    .values(value=bindparam("v_value"), updated_at=bindparam("v_updated_at"))
)
_DELETE_VALUE = delete(SettingRow.__table__).where(_SETTINGS.key == bindparam("key"))  # type: ignore[arg-type]


def value_of(connection: Connection, key: str) -> JSON | None:
    """The setting ``key`` (None where unset), in ``connection``'s transaction."""
    value: JSON | None = connection.scalar(_VALUE, {"key": key})
    return value


def _append(connection: Connection, key: str, item: JSON, now: Any) -> list[JSON]:
    upsert(connection, SettingRow, {"key": key, "value": [], "updated_at": now}, ["key"], "nothing")
    stored = connection.execute(_LOCKED_VALUE, {"key": key}).scalar_one()
    items = [*stored, item] if isinstance(stored, list) else [item]
    connection.execute(_SET_VALUE, {"b_key": key, "v_value": items, "v_updated_at": now})
    return items


class SettingsStore(StoreBase):
    async def get_value(self, key: str) -> JSON | None:
        return await self._read(value_of, key)

    async def put_value(self, key: str, value: JSON) -> None:
        await self._write(upsert, SettingRow, {"key": key, "value": value, "updated_at": self.clock.now()}, ["key"])

    async def append_value(self, key: str, item: JSON) -> list[JSON]:
        """Append ``item`` to the list stored under ``key`` (a missing or non-list value starts a new
        list) in one transaction, with the row locked, so two appends at once both land (a read
        and a ``put_value`` would lose one). Returns the list as stored."""
        return await self._write(_append, key, item, self.clock.now())

    async def delete_value(self, key: str) -> None:
        await self._write(execute, _DELETE_VALUE, {"key": key})
