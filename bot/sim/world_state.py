"""Lets the synthetic metrics see the simulated world: Cloud Run settings, SQL tier, app-db indexes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.engine.ports import Series
from bot.runbook.models import Environment, Metric, Runbook
from bot.sim.metrics import SyntheticMetrics
from bot.sim.world import SqlInstance, World

_INDEX_QUERY = text("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name LIKE 'idx_%'")


class WorldState:
    """Implements the synthetic metrics' SimWorldState over the in-memory world and app databases."""

    def __init__(self, world: World, runbook: Runbook, app_dbs: Mapping[str, AsyncEngine]) -> None:
        self._world = world
        self._runbook = runbook
        self._app_dbs = dict(app_dbs)  # database name -> engine
        self._indexes: dict[str, bool] = {}
        self._stale = True

    def mark_stale(self) -> None:
        """An execution or rollback finished: an index may have come or gone."""
        self._stale = True

    def _project(self, environment: str) -> str | None:
        env = self._runbook.environment(environment)
        return env.project if env else None

    def _main_service(self) -> str | None:
        return self._runbook.services[0].name if self._runbook.services else None

    def min_instances(self, environment: str) -> Mapping[str, int]:
        project, name = self._project(environment), self._main_service()
        # The latest revision as ``config()`` reads it, without building the whole config (a read of metrics).
        return {
            region: svc.latest.min_instances
            for (p, region, n), svc in self._world.services.items()
            if p == project and n == name
        }

    def env_vars(self, environment: str) -> Mapping[str, Mapping[str, str]]:
        project, name = self._project(environment), self._main_service()
        return {
            region: MappingProxyType(svc.latest.env)  # read-only: ``config()`` gave a copy
            for (p, region, n), svc in self._world.services.items()
            if p == project and n == name
        }

    def _serving(self, environment: str) -> SqlInstance | None:
        """The primary the application uses: the one promoted last, else the first one seeded.

        The sim takes a promotion to include the application's switch to the new primary (the runbook
        has a person do that switch right after it)."""
        project = self._project(environment)
        primaries = [inst for (p, _), inst in self._world.sql.items() if p == project and inst.master is None]
        promoted = [inst for inst in primaries if inst.promoted_at is not None]
        if promoted:
            return max(promoted, key=lambda inst: inst.promoted_at or datetime.min)
        return primaries[0] if primaries else None

    def sql_tier(self, environment: str) -> str | None:
        serving = self._serving(environment)
        return serving.tier if serving else None

    def sql_instance(self, environment: str, name: str) -> tuple[str, str] | None:
        """(tier, role) of a named instance: serving, replica or standby; None when it does not exist."""
        project = self._project(environment)
        instance = self._world.sql.get((project or "", name))
        if instance is None:
            return None
        if instance.master is not None:
            return instance.tier, "replica"
        return instance.tier, "serving" if instance is self._serving(environment) else "standby"

    def has_indexes(self, environment: str) -> bool:
        return self._indexes.get(environment, False)

    async def refresh(self) -> None:
        """Re-read which application databases carry the rollout's indexes (async, so done before reads).

        Only after something ran: a watcher poll reads many metrics and must not query every time.
        """
        if not self._stale:
            return
        self._stale = False
        for env in self._runbook.environments:
            engine = self._app_dbs.get(env.database or "")
            if engine is None:
                continue
            async with engine.connect() as conn:
                count = (await conn.execute(_INDEX_QUERY)).scalar_one()
            self._indexes[env.name] = count > 0


class WorldMetrics:
    """SyntheticMetrics that first refreshes what it cannot read synchronously from the world."""

    def __init__(self, metrics: SyntheticMetrics, state: WorldState) -> None:
        self.metrics = metrics
        self._state = state

    async def read(self, metric: Metric, environment: Environment, start: datetime, end: datetime) -> Series:
        await self._state.refresh()
        return await self.metrics.read(metric, environment, start, end)
