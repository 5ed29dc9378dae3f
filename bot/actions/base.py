"""What every action kind is built with: its adapters, the environment and the runbook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.cloud.ports import CloudRunApi, CloudSqlApi
from bot.engine.ports import Clock, ConditionChecker, KeyValueStore
from bot.runbook.models import Environment, Runbook

if TYPE_CHECKING:
    from bot.cloud.http_probe import HttpProber
    from bot.cloud.sql_target import SqlTargets


@dataclass
class ActionDeps:
    """The adapters, chosen once at start-up (sim or real) and shared by all actions."""

    cloud_run: CloudRunApi
    cloud_sql: CloudSqlApi
    http: HttpProber
    sql: SqlTargets
    checker: ConditionChecker
    clock: Clock
    settings: KeyValueStore


@dataclass(frozen=True)
class Binding:
    """An action model bound to one environment of one runbook."""

    runbook: Runbook
    environment: Environment
