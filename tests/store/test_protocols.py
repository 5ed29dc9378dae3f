"""SqlStore is the one implementation of every store protocol the engine and scheduler use."""

from __future__ import annotations

import inspect

import pytest

from bot.engine.ports import AlertStore, ClaimStore, KeyValueStore, OutboxStore
from bot.engine.store import RolloutStore
from bot.store.repository import SqlStore

PROTOCOLS = [RolloutStore, AlertStore, ClaimStore, OutboxStore, KeyValueStore]


def protocol_methods(protocol: type) -> list[str]:
    return [name for name, member in vars(protocol).items() if inspect.isfunction(member) and not name.startswith("_")]


@pytest.mark.parametrize("protocol", PROTOCOLS, ids=lambda p: p.__name__)
def test_sql_store_has_every_method_of_the_protocol_with_a_compatible_signature(protocol: type) -> None:
    methods = protocol_methods(protocol)
    assert methods, f"{protocol.__name__} declares no methods"
    for name in methods:
        ours = getattr(SqlStore, name)
        assert inspect.iscoroutinefunction(ours), f"SqlStore.{name} must be async"
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)
        have = list(inspect.signature(ours).parameters)
        assert have[: len(wanted)] == wanted, f"SqlStore.{name}{have} does not accept {wanted}"


def typed_as_every_protocol(
    store: SqlStore,
) -> tuple[RolloutStore, AlertStore, ClaimStore, OutboxStore, KeyValueStore]:
    """mypy checks this assignment: it fails the type check if SqlStore drifts from a protocol."""
    return store, store, store, store, store
