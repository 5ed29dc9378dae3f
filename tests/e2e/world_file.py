"""The sim World on disk, so it outlives a killed process: a JSON state file saved after every
change, and an append-only change log (one JSON line per change, with the writing pid).

The sim world is in-memory by design; only the crash tests need it to survive a process, so
this lives with them and not in bot/sim.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.cloud.ports import ServiceConfig, TrafficSplit
from bot.sim.world import Revision, RunService, SqlInstance, World, WorldChange

ServiceKey = tuple[str, str, str]


class WorldFile:
    """``state`` holds the whole world; ``changes`` (beside it) every change ever heard."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.changes = state.with_name(state.stem + ".changes.jsonl")

    def attach(self, world: World) -> None:
        """Load the saved world into ``world`` (if saved before) and save it after every change."""
        if self.state.exists():
            self.load_into(world)
        else:
            self.save(world)
        world.subscribe(lambda change: self._changed(world, change))

    def _changed(self, world: World, change: WorldChange) -> None:
        self.save(world)
        entry: dict[str, Any] = {"pid": os.getpid(), "kind": change.kind, "project": change.project}
        entry.update({"region": change.region, "name": change.name})
        if change.service is not None:
            entry["service"] = comparable(change.service)
        with self.changes.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")

    def save(self, world: World) -> None:
        """Write atomically: a reader (or the next process) never sees half a world."""
        data = {
            "services": [_service_json(s) for s in world.services.values()],
            "sql": [asdict(i) for i in world.sql.values()],
        }
        scratch = self.state.with_name(self.state.name + ".tmp")
        scratch.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(scratch, self.state)

    def load_into(self, world: World) -> None:
        data = json.loads(self.state.read_text(encoding="utf-8"))
        world.services = {}
        for raw in data["services"]:
            service = RunService(
                project=raw["project"],
                region=raw["region"],
                name=raw["name"],
                revisions=[Revision(**r) for r in raw["revisions"]],
                traffic=tuple(TrafficSplit(**t) for t in raw["traffic"]),
                generation=raw["generation"],
                revision_counter=raw["revision_counter"],
            )
            world.services[(service.project, service.region, service.name)] = service
        world.sql = {(i["project"], i["name"]): SqlInstance(**i) for i in data["sql"]}

    def read_changes(self) -> list[dict[str, Any]]:
        if not self.changes.exists():
            return []
        lines = self.changes.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def _service_json(service: RunService) -> dict[str, Any]:
    return {
        "project": service.project,
        "region": service.region,
        "name": service.name,
        "revisions": [asdict(r) for r in service.revisions],
        "traffic": [asdict(t) for t in service.traffic],
        "generation": service.generation,
        "revision_counter": service.revision_counter,
    }


def comparable(config: ServiceConfig) -> dict[str, Any]:
    """A service's whole config minus what every update changes by itself (etag, revision name)."""
    view = asdict(config)
    view.pop("etag")
    view.pop("latest_revision")
    normalised: dict[str, Any] = json.loads(json.dumps(view))  # tuples become lists, as on disk
    return normalised


def project_services(world: World, project: str) -> dict[str, dict[str, Any]]:
    """``name/region`` -> comparable config, for every service of one project."""
    return {
        f"{name}/{region}": comparable(service.config())
        for (p, region, name), service in sorted(world.services.items())
        if p == project
    }
