"""The metrics' view of the simulated world reads each service's latest revision, as its config shows it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.cloud.ports import ServiceConfig
from bot.runbook.loader import load_runbook
from bot.sim.world import World
from bot.sim.world_state import WorldState
from tests.runbook.test_report_schedule_fields import WEEK17


def test_min_instances_and_env_vars_are_what_each_services_config_says_before_and_after_a_change() -> None:
    runbook = load_runbook(WEEK17)
    world = World.seeded(runbook)
    state = WorldState(world, runbook, {})
    production = next(e for e in runbook.environments if e.production)
    service = runbook.services[0].name

    def configs() -> dict[str, ServiceConfig]:
        return {
            region: svc.config()
            for (project, region, name), svc in world.services.items()
            if project == production.project and name == service
        }

    def agrees() -> None:
        assert state.min_instances(production.name) == {r: c.min_instances for r, c in configs().items()}
        assert {r: dict(e) for r, e in state.env_vars(production.name).items()} == {
            r: c.env for r, c in configs().items()
        }

    agrees()
    before = state.env_vars(production.name)
    region = next(iter(before))
    config = world.get_service(production.project, region, service)
    world.update_service(
        replace(config, min_instances=1, env={**config.env, "CACHE_MAX_ITEMS": "1500"}),
        frozenset({"min_instances", "env CACHE_MAX_ITEMS"}),
    )
    agrees()
    assert state.env_vars(production.name)[region]["CACHE_MAX_ITEMS"] == "1500"
    assert "CACHE_MAX_ITEMS" not in before[region] or before[region]["CACHE_MAX_ITEMS"] != "1500"  # a view of its time
    with pytest.raises(TypeError):
        state.env_vars(production.name)[region]["CACHE_MAX_ITEMS"] = "9"  # type: ignore[index]
