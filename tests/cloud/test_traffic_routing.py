"""The traffic arithmetic on its own: whole percents, shares kept in proportion."""

from __future__ import annotations

import pytest

from bot.actions.cloud_run_traffic import route
from bot.cloud.ports import TrafficSplit
from bot.engine.ports import ActionFailed


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
    with pytest.raises(ActionFailed, match="the remaining 50% has nowhere to go"):
        route((TrafficSplit(100, None, True),), "latest", 50, "svc")
