"""Every canary step of week17.yaml, planned and applied in order on a fresh world, on the sim
adapters and on the real google client via the facade: the served split after each step, and an
exact revert of each step before the next one runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.actions.registry import default_registry
from bot.engine.ports import JSON, Action, ActionFailed, Change, Target
from bot.runbook.loader import load_runbook
from bot.runbook.models import CloudRunTraffic, Runbook
from tests.cloud.conftest import SERVICE, Cloud, comparable

WEEK17 = Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml"
REGIONS = ("us-central1", "europe-west1", "asia-southeast1")
ENVIRONMENT = "production"
CLOUD_RUN = ["cloud_run.scale", "cloud_run.env", "cloud_run.traffic", "cloud_run.deploy"]
Served = list[tuple[int, str, str | None]]  # (percent, "latest" or the revision's env marker, tag)

# The split each step leaves behind, in every region. A pinned revision is named by the env
# variable that tells it apart, since revision names change when a step is reverted and re-run.
SEQUENCE: list[tuple[str, Served]] = [
    ("day1.3", [(100, "latest", "pool-canary")]),
    ("day3.1", [(100, "latest", "pool-canary")]),
    ("day3.2", [(100, "latest", "pool-canary")]),
    ("day6.1", [(90, "warmup", "pool-canary"), (10, "latest", "canary-warming")]),
    ("day8.1", [(81, "warmup", "pool-canary"), (9, "warming", "canary-warming"), (10, "latest", "canary-recommend")]),
    (
        "day8.2",
        [
            (73, "warmup", "pool-canary"),
            (8, "warming", "canary-warming"),
            (9, "recommend", "canary-recommend"),
            (10, "latest", "canary-bulk"),
        ],
    ),
    (
        "day9.1",
        [
            (40, "warmup", "pool-canary"),
            (5, "warming", "canary-warming"),
            (5, "recommend", "canary-recommend"),
            (50, "latest", "canary-bulk"),
        ],
    ),
    (
        "day10.1",
        [
            (0, "warmup", "pool-canary"),
            (0, "warming", "canary-warming"),
            (0, "recommend", "canary-recommend"),
            (100, "latest", "canary-bulk"),
        ],
    ),
]


# The newest change a pinned revision carries (the images and settings are cumulative).
MARKERS = (
    ("BULK_PROCESS_L1_CACHE", "bulk"),
    ("RECOMMEND_CACHE_TTL", "recommend"),
    ("ENABLE_MULTI_TIER_WARMING", "warming"),
    ("ENABLE_CACHE_WARMUP", "warmup"),
)


@dataclass(frozen=True)
class Applied:
    action: Action
    target: Target
    snapshot: JSON


@pytest.fixture(scope="module")
def week17() -> Runbook:
    return load_runbook(WEEK17)


def bound(cloud: Cloud, runbook: Runbook, step_id: str) -> list[Action]:
    """The step's Cloud Run actions for production, in order, as the engine binds them."""
    step = runbook.step(step_id)
    environment = runbook.environment(ENVIRONMENT)
    assert step is not None and environment is not None
    registry = default_registry(cloud.deps, kinds=CLOUD_RUN)
    return [
        registry.build(spec, runbook, environment)
        for spec in step.actions
        if spec.kind in CLOUD_RUN and (spec.environments is None or ENVIRONMENT in spec.environments)
    ]


async def plan(actions: list[Action]) -> list[Change]:
    """What build_plan does: every target snapshotted and diffed before anything runs."""
    changes: list[Change] = []
    for action in actions:
        for target in action.targets():
            changes.extend(action.diff(target, await action.snapshot(target)))
    return changes


async def apply(cloud: Cloud, actions: list[Action]) -> list[Applied]:
    """What the executor does: per action, per target, a fresh snapshot and then apply."""
    applied: list[Applied] = []
    for action in actions:
        for target in action.targets():
            snapshot = await action.snapshot(target)
            applied.append(Applied(action, target, snapshot))
            outcome = await action.apply(target, snapshot, cloud.note)
            assert outcome.ok, outcome.message
            assert (await action.verify(target)).ok
    return applied


async def revert(cloud: Cloud, applied: list[Applied]) -> None:
    """What a rollback does: newest first, each target back to its snapshot."""
    for item in reversed(applied):
        assert (await item.action.revert(item.target, item.snapshot, cloud.note)).ok


def served(cloud: Cloud, region: str) -> Served:
    service = cloud.world.services[("ion-mentoring", region, SERVICE)]
    envs = {revision.name: revision.env for revision in service.revisions}

    def marker(revision: str | None) -> str:
        env = envs[str(revision)]
        for name, shown in MARKERS:
            if name in env:
                return shown
        return f"other {env}"

    return [(s.percent, "latest" if s.latest else marker(s.revision), s.tag) for s in service.traffic]


def live(cloud: Cloud) -> dict[str, object]:
    return {region: comparable(cloud.live(region)) for region in REGIONS}


async def test_every_canary_step_plans_applies_and_reverts_exactly_in_order(cloud: Cloud, week17: Runbook) -> None:
    for step_id, expected in SEQUENCE:
        actions = bound(cloud, week17, step_id)
        before = live(cloud)
        assert await plan(actions), f"{step_id} plans no change"

        applied = await apply(cloud, actions)
        assert [served(cloud, region) for region in REGIONS] == [expected] * 3, step_id
        assert await plan(actions) == [] or step_id == "day9.1", f"{step_id} is not idempotent"

        await revert(cloud, applied)
        assert live(cloud) == before, f"reverting {step_id} did not restore the previous state"

        await apply(cloud, actions)
        assert [served(cloud, region) for region in REGIONS] == [expected] * 3, step_id

    final = cloud.live("us-central1")
    assert final.image.endswith("ion-mentoring-api:week17-bulk-cache")
    assert {key: final.env[key] for key in ("DATABASE_POOL_SIZE", "CACHE_MAX_ITEMS", "BULK_PROCESS_L1_CACHE")} == {
        "DATABASE_POOL_SIZE": "15",
        "CACHE_MAX_ITEMS": "1500",
        "BULK_PROCESS_L1_CACHE": "true",
    }


async def test_day1_3_is_a_configuration_only_canary_then_a_promotion(cloud: Cloud, week17: Runbook) -> None:
    deploy, promote = bound(cloud, week17, "day1.3")
    image = cloud.live("us-central1").image
    assert deploy.describe() == (
        "Deploy the same image to ion-mentoring-api in us-central1, europe-west1, asia-southeast1 (production) "
        "as a new revision (10% traffic, tag pool-canary, env DATABASE_POOL_SIZE=15, "
        "DATABASE_POOL_MIN_OVERFLOW=5, DATABASE_POOL_RECYCLE=3600)"
    )
    changes = [str(c) for c in await plan([deploy, promote]) if "us-central1" in c.target]
    assert changes == [
        "ion-mentoring-api us-central1 (production): env DATABASE_POOL_SIZE (unset) -> 15",
        "ion-mentoring-api us-central1 (production): env DATABASE_POOL_MIN_OVERFLOW (unset) -> 5",
        "ion-mentoring-api us-central1 (production): env DATABASE_POOL_RECYCLE (unset) -> 3600",
        "ion-mentoring-api us-central1 (production): traffic 100% latest -> "
        "90% ion-mentoring-api-00001, 10% latest (pool-canary)",
        "ion-mentoring-api us-central1 (production): traffic 100% latest -> "
        "100% latest (pool-canary) (after this step's deploy of pool-canary)",
    ]

    await apply(cloud, [deploy])
    canary = cloud.live("us-central1")
    assert canary.image == image and canary.env["DATABASE_POOL_SIZE"] == "15"
    assert served(cloud, "us-central1")[0][0] == 90
    assert [(s.percent, s.latest, s.tag) for s in canary.traffic] == [(90, False, None), (10, True, "pool-canary")]

    await apply(cloud, [promote])
    assert [(s.percent, s.latest, s.tag) for s in cloud.live("us-central1").traffic] == [(100, True, "pool-canary")]


async def test_a_canary_to_latest_with_a_single_revision_is_refused_with_what_to_do(cloud: Cloud) -> None:
    spec = CloudRunTraffic.model_validate(
        {"kind": "cloud_run.traffic", "service": SERVICE, "regions": ["us-central1"], "percent": 10, "to": "latest"}
    )
    environment = cloud.runbook.environment(ENVIRONMENT)
    assert environment is not None
    action = default_registry(cloud.deps, kinds=CLOUD_RUN).build(spec, cloud.runbook, environment)
    target = action.targets()[0]
    with pytest.raises(ActionFailed) as refused:
        action.diff(target, await action.snapshot(target))
    assert refused.value.message == (
        "all traffic of ion-mentoring-api in us-central1 (production) follows the latest revision and no other "
        "revision serves traffic, so a 10% canary to latest has nothing to split from and the remaining 90% has "
        "nowhere to go; nothing was changed; deploy the canary with cloud_run.deploy (traffic_percent: 10, "
        "and a tag) first, then shift its share with cloud_run.traffic"
    )
    assert [(s.percent, s.latest) for s in cloud.live("us-central1").traffic] == [(100, True)]


async def play_until(cloud: Cloud, runbook: Runbook, last: str) -> dict[str, list[Applied]]:
    """Apply the canary steps of SEQUENCE in order up to ``last`` (included)."""
    done: dict[str, list[Applied]] = {}
    for step_id, _ in SEQUENCE:
        done[step_id] = await apply(cloud, bound(cloud, runbook, step_id))
        if step_id == last:
            break
    return done


async def test_the_day9_promotion_carries_every_canary_days_6_to_8_validated(cloud: Cloud, week17: Runbook) -> None:
    await play_until(cloud, week17, "day10.1")
    final = cloud.live("us-central1")
    assert final.image.endswith("ion-mentoring-api:week17-bulk-cache")
    validated = {"ENABLE_MULTI_TIER_WARMING": "true", "RECOMMEND_CACHE_TTL": "600", "BULK_PROCESS_L1_CACHE": "true"}
    assert {key: final.env.get(key) for key in validated} == validated
    assert [(s.percent, s.tag) for s in final.traffic if s.percent] == [(100, "canary-bulk")]


async def test_the_day9_promotion_is_refused_when_a_validated_canary_was_rolled_back(
    cloud: Cloud, week17: Runbook
) -> None:
    done = await play_until(cloud, week17, "day8.2")
    await revert(cloud, done["day8.2"])
    await revert(cloud, done["day8.1"])  # Day 8.1 rolled back: its canary is gone
    await apply(cloud, bound(cloud, week17, "day8.2"))
    before = live(cloud)
    first = bound(cloud, week17, "day9.1")[0]
    target = first.targets()[0]
    with pytest.raises(ActionFailed) as refused:
        first.diff(target, await first.snapshot(target))
    assert refused.value.message == (
        "ion-mentoring-api in us-central1, europe-west1, asia-southeast1 (production) has no revision tagged "
        "canary-recommend (rolled back, or never deployed), so canary-bulk would be promoted without the change "
        "day8.1 validated; nothing was changed; re-run day8.1 first"
    )
    assert live(cloud) == before


async def test_a_promotion_whose_image_is_not_built_on_a_carried_canary_is_refused(cloud: Cloud) -> None:
    data = yaml.safe_load(WEEK17.read_text(encoding="utf-8"))
    day8 = next(d for d in data["days"] if d["number"] == 8)
    del day8["steps"][1]["actions"][0]["includes"]  # day8.2's image says nothing of what it is built on
    runbook = Runbook.model_validate(data)
    await play_until(cloud, runbook, "day8.2")
    first = bound(cloud, runbook, "day9.1")[0]
    target = first.targets()[0]
    with pytest.raises(ActionFailed) as refused:
        first.diff(target, await first.snapshot(target))
    assert refused.value.message.startswith(
        "canary-bulk (us-central1-docker.pkg.dev/ion-mentoring/ion/ion-mentoring-api:week17-bulk-cache, day8.2) "
        "is not built on us-central1-docker.pkg.dev/ion-mentoring/ion/ion-mentoring-api:week17-multitier-warming"
    )
