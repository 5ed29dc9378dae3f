"""Does the revision a rollout promotes carry the canaries validated before it?

Week 17 deploys one canary per change (Days 6, 8.1, 8.2), each under its own tag, with cumulative
images: each is built on the ones before and says so in its deploy's ``includes``. The Day 9-10
rollout promotes the last one and names the earlier ones in ``carries``; before any traffic moves,
this check refuses, with a sentence, a promotion whose revision would drop one of them: its image
not built on theirs, a setting they were validated with missing from its configuration, or their
own revision gone (rolled back, never deployed).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.cloud.ports import TrafficSplit
from bot.engine.ports import ActionFailed
from bot.runbook.models import CloudRunDeploy, CloudRunTraffic, Runbook


def deploy_tagged(runbook: Runbook, service: str, tag: str) -> tuple[str, CloudRunDeploy] | None:
    """The step and deploy that put ``tag`` on a revision of ``service`` (the last one, if several)."""
    found: tuple[str, CloudRunDeploy] | None = None
    for step in runbook.steps():
        for spec in step.actions:
            if isinstance(spec, CloudRunDeploy) and spec.service == service and spec.tag == tag:
                found = (step.id, spec)
    return found


def carried_env_names(runbook: Runbook, spec: CloudRunTraffic) -> list[str]:
    """The settings the carried canaries were validated with, which the promoted revision must have."""
    names: list[str] = []
    for tag in spec.carries:
        found = deploy_tagged(runbook, spec.service, tag)
        if found is not None:
            names += [name for name in found[1].env if name not in names]
    return names


def check_carries(
    runbook: Runbook,
    spec: CloudRunTraffic,
    splits: tuple[TrafficSplit, ...],
    latest_revision: str,
    env: Mapping[str, str | None],
    where: str,
) -> None:
    """Raise ActionFailed when the revision tagged ``spec.to`` does not carry every ``spec.carries``."""
    if not spec.carries:
        return
    promoted = deploy_tagged(runbook, spec.service, spec.to)
    if promoted is None:
        raise ActionFailed(
            f"{spec.to} must carry {', '.join(spec.carries)}, but no step of the runbook deploys a revision "
            f"tagged {spec.to}, so what it is built on is unknown; nothing was changed"
        )
    step_id, deploy = promoted
    target = next((s for s in splits if s.tag == spec.to), None)
    if target is None:
        return  # route() refuses a missing tag with its own sentence
    if not (target.latest or (target.revision and target.revision == latest_revision)):
        raise ActionFailed(
            f"the revision tagged {spec.to} of {where} is no longer the latest one, so its configuration cannot "
            f"be checked to carry {', '.join(spec.carries)}; nothing was changed; re-run {step_id}"
        )
    for tag in spec.carries:
        _check_one(runbook, spec, tag, deploy, step_id, splits, env, where)


def _check_one(
    runbook: Runbook,
    spec: CloudRunTraffic,
    tag: str,
    deploy: CloudRunDeploy,
    step_id: str,
    splits: tuple[TrafficSplit, ...],
    env: Mapping[str, str | None],
    where: str,
) -> None:
    found = deploy_tagged(runbook, spec.service, tag)
    if found is None:
        raise ActionFailed(f"no step of the runbook deploys a canary tagged {tag}; nothing was changed")
    earlier_step, earlier = found
    if not any(s.tag == tag for s in splits):
        raise ActionFailed(
            f"{where} has no revision tagged {tag} (rolled back, or never deployed), so {spec.to} would be "
            f"promoted without the change {earlier_step} validated; nothing was changed; re-run {earlier_step} first"
        )
    if earlier.image is not None and earlier.image != deploy.image and earlier.image not in deploy.includes:
        raise ActionFailed(
            f"{spec.to} ({deploy.image or 'the same image'}, {step_id}) is not built on {earlier.image}, the "
            f"image {earlier_step} validated as {tag}: promoting it would drop that change. Nothing was changed; "
            f"build {spec.to} on it and list it under 'includes' of {step_id}'s deploy"
        )
    missing = [f"{name}={value}" for name, value in earlier.env.items() if env.get(name) != value]
    if missing:
        raise ActionFailed(
            f"the revision tagged {spec.to} of {where} runs without {', '.join(missing)}, which {earlier_step} "
            f"validated as {tag}: promoting it would drop that change. Nothing was changed"
        )
