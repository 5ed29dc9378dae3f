"""cloud_run.traffic: give N% to the latest revision or a tagged one; 100 promotes it.

The other revisions keep their relative shares of what is left, so revert (which writes the
snapshot's split back) returns exactly to the previous split. Promoting the latest revision
leaves the service following LATEST again, so later env and scale changes roll forward.
"""

from __future__ import annotations

from typing import Any

from bot.actions._cloud_run_common import (
    CloudRunAction,
    Values,
    service_regions,
    show_traffic,
    traffic_json,
    traffic_splits,
)
from bot.actions.base import ActionDeps, Binding
from bot.actions.canary_lineage import carried_env_names, check_carries
from bot.cloud.ports import ServiceConfig, TrafficSplit
from bot.engine.ports import JSON, Action, ActionFailed, Change, Target
from bot.runbook.models import CloudRunDeploy, CloudRunTraffic


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
    if to == "latest" and rest and not any(entries[i].percent for i in others):
        raise ActionFailed(
            f"all traffic of {where} follows the latest revision and no other revision serves traffic, "
            f"so a {percent}% canary to latest has nothing to split from and the remaining {rest}% has "
            "nowhere to go; nothing was changed; deploy the canary with cloud_run.deploy "
            f"(traffic_percent: {percent}, and a tag) first, then shift its share with cloud_run.traffic"
        )
    shares = _share(rest, [entries[i].percent for i in others], where)
    result = [TrafficSplit(percent, entries[index].revision, entries[index].latest, entries[index].tag)]
    routed = {index: result[0]}
    for i, share in zip(others, shares, strict=True):
        routed[i] = TrafficSplit(share, entries[i].revision, entries[i].latest, entries[i].tag)
    ordered = [routed[i] for i in range(len(entries))]
    if percent == 100:
        ordered = [s for i, s in enumerate(ordered) if i == index or s.tag]
    return tuple(ordered)


def canary_split(
    splits: tuple[TrafficSplit, ...], serving: str, tag: str | None, percent: int, where: str
) -> tuple[TrafficSplit, ...]:
    """The split after deploying a new revision: what followed LATEST is pinned to ``serving`` (the
    revision serving now) and the new revision gets ``percent``. A canary that held ``tag`` before is
    superseded: its share goes back to the others (unless it is all that serves) and the tag moves."""
    pinned = [
        TrafficSplit(s.percent, serving if s.latest else s.revision, False, None if s.tag == tag else s.tag)
        for s in splits
    ]
    superseded = {i for i, s in enumerate(splits) if tag is not None and s.tag == tag}
    if any(s.percent for i, s in enumerate(pinned) if i not in superseded):
        pinned = [s for i, s in enumerate(pinned) if i not in superseded]
    return route((*pinned, TrafficSplit(0, None, True, tag)), "latest", percent, where)


def follow_latest(splits: tuple[TrafficSplit, ...], latest_revision: str) -> tuple[TrafficSplit, ...]:
    """A promoted revision that is the latest one is served as LATEST (tag kept), as Cloud Run
    does after ``--to-latest``: later template changes then roll forward instead of sitting at 0%."""
    if not latest_revision or any(s.latest for s in splits if s.percent < 100):
        return splits
    return tuple(
        TrafficSplit(100, None, True, s.tag) if s.percent == 100 and s.revision == latest_revision else s
        for s in splits
    )


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
        captured: Values = {"traffic": traffic_json(config.traffic), "_revision": config.latest_revision}
        if self.spec.carries:  # context, not compared: what the latest revision runs with
            captured["_env"] = {
                name: config.env.get(name) for name in carried_env_names(self.binding.runbook, self.spec)
            }
        return captured

    def desired(self, current: Values) -> Values:
        splits = traffic_splits(current.get("traffic") or [])
        if self.spec.carries:
            env = current.get("_env") or {}
            check_carries(self.binding.runbook, self.spec, splits, str(current.get("_revision") or ""), env, self.where)
        routed = route(splits, self.spec.to, self.spec.percent, self.where)
        if self.spec.percent == 100:
            routed = follow_latest(routed, str(current.get("_revision") or ""))
        return {"traffic": traffic_json(routed)}

    def diff(self, target: Target, snapshot: JSON) -> list[Change]:
        """A plan is built before the step runs, so a tag that an earlier deploy of this step
        creates is planned on top of that deploy; apply still needs the tag to be live."""
        current: Values = dict(snapshot or {})
        splits = traffic_splits(current.get("traffic") or [])
        deploy = self.earlier_deploy(target)
        if self.spec.to == "latest" or any(s.tag == self.spec.to for s in splits) or deploy is None:
            return super().diff(target, snapshot)
        serving = str(current.get("_revision") or "")
        staged = canary_split(splits, serving, deploy.tag, deploy.traffic_percent, self.where)
        after = route(staged, self.spec.to, self.spec.percent, self.where)
        before_text, after_text = show_traffic(current.get("traffic") or []), show_traffic(traffic_json(after))
        return [
            Change(target.label, "traffic", before_text, f"{after_text} (after this step's deploy of {deploy.tag})")
        ]

    def earlier_deploy(self, target: Target) -> CloudRunDeploy | None:
        """The cloud_run.deploy before this action in its step that tags this region's new revision."""
        environment = self.binding.environment.name
        for step in self.binding.runbook.steps():
            specs = list(step.actions)
            place = next((i for i, spec in enumerate(specs) if spec is self.spec), None)
            if place is None:
                continue
            for spec in reversed(specs[:place]):
                if (
                    isinstance(spec, CloudRunDeploy)
                    and spec.service == self.service
                    and spec.tag == self.spec.to
                    and (spec.environments is None or environment in spec.environments)
                    and self.region(target) in service_regions(spec.service, spec.regions, self.binding)
                ):
                    return spec
        return None


def build(spec: Any, binding: Binding, deps: ActionDeps) -> Action:
    return TrafficAction(spec, binding, deps)
