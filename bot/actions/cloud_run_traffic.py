"""cloud_run.traffic: give N% to the latest revision or a tagged one; 100 promotes it.

The other revisions keep their relative shares of what is left, so revert (which writes the
snapshot's split back) returns exactly to the previous split.
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_run_common import CloudRunAction, Values, traffic_json, traffic_splits
from bot.actions.base import ActionDeps, Binding
from bot.cloud.ports import ServiceConfig, TrafficSplit
from bot.engine.ports import Action, ActionFailed
from bot.runbook.models import CloudRunTraffic


def route(splits: tuple[TrafficSplit, ...], to: str, percent: int, where: str) -> tuple[TrafficSplit, ...]:
    """Give ``percent`` to ``to`` ('latest' or a tag); the others share the rest as before."""
    entries = list(splits)
    index = next(
        (i for i, s in enumerate(entries) if (s.latest if to == "latest" else s.tag == to)),
        None,
    )
    if index is None:
        if to != "latest":
            raise ActionFailed(
                f"no revision of {where} is tagged {to!r}; nothing was changed; deploy it with that tag first"
            )
        entries.append(TrafficSplit(percent=0, latest=True))
        index = len(entries) - 1
    others = [i for i in range(len(entries)) if i != index]
    rest = 100 - percent
    shares = _share(rest, [entries[i].percent for i in others], where)
    result = [TrafficSplit(percent, entries[index].revision, entries[index].latest, entries[index].tag)]
    routed = {index: result[0]}
    for i, share in zip(others, shares, strict=True):
        routed[i] = TrafficSplit(share, entries[i].revision, entries[i].latest, entries[i].tag)
    ordered = [routed[i] for i in range(len(entries))]
    if percent == 100:
        ordered = [s for i, s in enumerate(ordered) if i == index or s.tag]
    return tuple(ordered)


def _share(rest: int, weights: list[int], where: str) -> list[int]:
    """Split ``rest`` in proportion to ``weights`` with whole percents (largest remainder)."""
    total = sum(weights)
    if rest == 0:
        return [0] * len(weights)
    if total == 0:
        raise ActionFailed(
            f"no other revision of {where} serves traffic, so the remaining {rest}% has nowhere to go; "
            "nothing was changed; deploy a revision or route by tag"
        )
    exact = [rest * w / total for w in weights]
    shares = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: exact[i] - shares[i], reverse=True)
    for i in by_remainder[: rest - sum(shares)]:
        shares[i] += 1
    return shares


class TrafficAction(CloudRunAction):
    spec: CloudRunTraffic

    def describe(self) -> str:
        to = "the latest revision" if self.spec.to == "latest" else f"the revision tagged {self.spec.to}"
        if self.spec.percent == 100:
            return f"Promote {to} of {self.where} to 100% of traffic"
        return f"Send {self.spec.percent}% of {self.where} traffic to {to}"

    def capture(self, config: ServiceConfig) -> Values:
        return {"traffic": traffic_json(config.traffic)}

    def desired(self, current: Values) -> Values:
        splits = traffic_splits(current.get("traffic") or [])
        return {"traffic": traffic_json(route(splits, self.spec.to, self.spec.percent, self.where))}


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return TrafficAction(spec, binding, deps)
