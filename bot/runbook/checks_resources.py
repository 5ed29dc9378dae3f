"""Cross-references of where steps act: environments, staging first, services and SQL instances named."""

from __future__ import annotations

from collections.abc import Iterator

from bot.runbook.findings import Finding, Loc, steps_with_locs, unknown
from bot.runbook.models import (
    CloudSqlDelete,
    CloudSqlPromote,
    CloudSqlReplica,
    CloudSqlTier,
    HttpLoad,
    HttpSmoke,
    Runbook,
    SqlBenchmark,
    SqlExecute,
    SqlQuery,
)
from bot.runbook.suggest import did_you_mean


def environment_findings(rb: Runbook) -> Iterator[Finding]:
    known = [env.name for env in rb.environments]

    def check(loc: Loc, name: str) -> Iterator[Finding]:
        if name not in known:
            yield Finding(loc, unknown("environment", name, known))

    for i, instance in enumerate(rb.sql_instances):
        yield from check(("sql_instances", i, "environment"), instance.environment)
    for t, trigger in enumerate(rb.triggers):
        yield from check(("triggers", t, "environment"), trigger.environment)
    for loc, step in steps_with_locs(rb):
        for e, name in enumerate(step.environments):
            yield from check((*loc, "environments", e), name)
        for a, action in enumerate(step.actions):
            for e, name in enumerate(action.environments or []):
                if name not in known:
                    yield from check((*loc, "actions", a, "environments", e), name)
                elif name not in step.environments:
                    yield Finding(
                        (*loc, "actions", a, "environments", e),
                        f"the action is limited to '{name}', where step {step.id} never runs; "
                        f"add it to the step's environments or remove it here",
                    )
            yield from _action_needs(rb, (*loc, "actions", a), action, action.environments or step.environments)


def staging_first_findings(rb: Runbook) -> Iterator[Finding]:
    """The guard holds a production run until the step's non-production runs are done; both must exist."""
    staging = [env.name for env in rb.environments if not env.production]
    for loc, step in steps_with_locs(rb):
        envs = [rb.environment(name) for name in step.environments]
        if not step.staging_first or None in envs:  # an unknown environment is reported on its own
            continue
        listed = ", ".join(step.environments)
        if not any(env is not None and env.production for env in envs):
            yield Finding(
                (*loc, "staging_first"),
                f"staging_first only holds back a production run, but none of step {step.id}'s environments "
                f"({listed}) is marked production: true; mark the production environment or remove staging_first",
            )
        elif not staging:
            yield Finding(
                (*loc, "staging_first"),
                f"staging_first is set, but the runbook has no staging environment (one without production: true) "
                f"for step {step.id} to run in first; add one to environments and to the step, or remove staging_first",
            )
        elif not any(env is not None and not env.production for env in envs):
            yield Finding(
                (*loc, "staging_first"),
                f"staging_first is set, but step {step.id} runs only in {listed}; "
                f"add {' or '.join(staging)} to its environments, or remove staging_first",
            )


def _action_needs(rb: Runbook, loc: Loc, action: object, env_names: list[str]) -> Iterator[Finding]:
    """sql.* actions need the environment's database; relative http paths need its base_url."""
    for name in env_names:
        env = rb.environment(name)
        if env is None:
            continue
        if isinstance(action, SqlQuery | SqlExecute | SqlBenchmark) and env.database is None:
            yield Finding(loc, f"{action.kind} runs in '{name}', which has no database; set its database")
        relative = isinstance(action, HttpSmoke | HttpLoad) and not action.path.startswith(("http://", "https://"))
        if relative and env.base_url is None:
            yield Finding(loc, f"the path is relative but environment '{name}' has no base_url; set it")


def service_findings(rb: Runbook) -> Iterator[Finding]:
    services = [svc.name for svc in rb.services]
    instances = [sql.name for sql in rb.sql_instances]
    created = [a.instance for _, s in steps_with_locs(rb) for a in s.actions if isinstance(a, CloudSqlReplica)]
    for loc, step in steps_with_locs(rb):
        for a, action in enumerate(step.actions):
            at: Loc = (*loc, "actions", a)
            yield from _instances_named(at, action, instances, [*instances, *created])
            name = getattr(action, "service", None)
            if not isinstance(name, str):
                continue
            service = rb.service(name)
            if service is None:
                yield Finding((*at, "service"), unknown("service", name, services))
                continue
            regions = getattr(action, "regions", "all")
            for r, region in enumerate(regions if isinstance(regions, list) else []):
                if region not in service.regions:
                    yield Finding(
                        (*at, "regions", r),
                        f"region '{region}' is not one of {name}'s regions ({', '.join(service.regions)})"
                        f"{did_you_mean(region, service.regions, n=1)}",
                    )


def _instances_named(at: Loc, action: object, existing: list[str], known: list[str]) -> Iterator[Finding]:
    """Cloud SQL names: a tier change or a master must exist before the rollout; the others may be a replica
    the runbook creates."""
    fields: list[tuple[str, list[str]]] = []
    if isinstance(action, CloudSqlTier):
        fields = [("instance", existing)]
    elif isinstance(action, CloudSqlReplica):
        fields = [("master", existing)]
    elif isinstance(action, CloudSqlPromote):
        fields = [("instance", known), ("standby", existing)]
    elif isinstance(action, CloudSqlDelete):
        fields = [("instance", known), ("after_promotion_of", known)]
    for field, names in fields:
        value = getattr(action, field)
        if value not in names:
            yield Finding((*at, field), unknown("Cloud SQL instance", value, names))
