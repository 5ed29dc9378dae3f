"""SqlStore is the one implementation of every store protocol the engine and scheduler use."""

from __future__ import annotations

import inspect

import pytest

from bot.actions.base import KeyValueStore as ActionSettings
from bot.engine.ports import AlertHistory, AlertStore
from bot.engine.store import (
    AuditLog,
    ExecutionStore,
    GateStore,
    IncidentLog,
    LaneStore,
    RolloutStore,
    RunStore,
    SignOffStore,
)
from bot.reports.ports import ClaimStore
from bot.slack.delivery.ports import KeyValueStore, OutboxStore
from bot.store.repository import SqlStore

AGGREGATES = [RunStore, LaneStore, SignOffStore, GateStore, ExecutionStore, AuditLog, IncidentLog]
PROTOCOLS = [*AGGREGATES, AlertStore, AlertHistory, ClaimStore, OutboxStore, KeyValueStore, ActionSettings]


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


def test_the_rollout_store_is_the_union_of_the_aggregates_and_declares_nothing_of_its_own() -> None:
    assert set(AGGREGATES) <= set(RolloutStore.__mro__)
    assert protocol_methods(RolloutStore) == []
    names = [name for protocol in AGGREGATES for name in protocol_methods(protocol)]
    assert len(names) == len(set(names)), "a method belongs to one aggregate only"


def typed_as_every_protocol(
    store: SqlStore,
) -> tuple[RolloutStore, AlertStore, AlertHistory, ClaimStore, OutboxStore, KeyValueStore, ActionSettings]:
    """mypy checks this assignment: it fails the type check if SqlStore drifts from a protocol."""
    return store, store, store, store, store, store, store
