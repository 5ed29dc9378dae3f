"""The traffic arithmetic on its own: whole percents, shares kept in proportion."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.actions.cloud_run_traffic import canary_split, follow_latest, route
from bot.cloud.ports import TrafficSplit
from bot.engine.ports import ActionFailed
from bot.runbook.models import CloudRunDeploy


def test_the_others_keep_their_proportions_in_whole_percents() -> None:
    splits = (TrafficSplit(60, "r1"), TrafficSplit(30, "r2"), TrafficSplit(10, None, True, "canary"))
    routed = route(splits, "canary", 25, "svc")
    assert [s.percent for s in routed] == [50, 25, 25]
    assert sum(s.percent for s in route(splits, "canary", 33, "svc")) == 100


def test_promoting_drops_untagged_revisions_at_zero() -> None:
    splits = (TrafficSplit(50, "r1"), TrafficSplit(0, "r2", tag="blue"), TrafficSplit(50, None, True))
    assert route(splits, "latest", 100, "svc") == (
        TrafficSplit(0, "r2", tag="blue"),
        TrafficSplit(100, None, True),
    )


def test_taking_traffic_from_the_only_serving_revision_is_refused() -> None:
    with pytest.raises(ActionFailed, match=r"deploy the canary with cloud_run\.deploy"):
        route((TrafficSplit(100, None, True),), "latest", 50, "svc")
    with pytest.raises(ActionFailed, match="the remaining 50% has nowhere to go"):
        route((TrafficSplit(100, "r1", tag="blue"),), "blue", 50, "svc")


def test_a_new_canary_with_the_same_tag_supersedes_the_old_one() -> None:
    splits = (TrafficSplit(90, "r4", tag="pool"), TrafficSplit(10, None, True, "canary"))
    assert canary_split(splits, "r5", "canary", 10, "svc") == (
        TrafficSplit(90, "r4", tag="pool"),
        TrafficSplit(10, None, True, "canary"),
    )


def test_a_tag_holder_serving_everything_is_pinned_not_dropped() -> None:
    splits = (TrafficSplit(0, "r4", tag="pool"), TrafficSplit(100, None, True, "canary"))
    assert canary_split(splits, "r5", "canary", 10, "svc") == (
        TrafficSplit(0, "r4", tag="pool"),
        TrafficSplit(90, "r5"),
        TrafficSplit(10, None, True, "canary"),
    )


def test_promoting_the_latest_revision_follows_latest_again_and_keeps_its_tag() -> None:
    promoted = (TrafficSplit(100, "r7", tag="canary"), TrafficSplit(0, "r4", tag="pool"))
    assert follow_latest(promoted, "r7") == (TrafficSplit(100, None, True, "canary"), TrafficSplit(0, "r4", tag="pool"))
    assert follow_latest(promoted, "r8") == promoted


def test_a_deploy_needs_an_image_or_env() -> None:
    with pytest.raises(ValidationError, match="needs an image, env or both"):
        CloudRunDeploy.model_validate({"kind": "cloud_run.deploy", "service": "api"})
    assert (
        CloudRunDeploy.model_validate({"kind": "cloud_run.deploy", "service": "api", "env": {"A": "1"}}).image is None
    )
