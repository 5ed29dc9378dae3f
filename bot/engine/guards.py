"""The preconditions of running a lane, each refusal a sentence: run state, rights, order, gates."""

from __future__ import annotations

from bot.engine import checklist, gates, manual
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.ports import Actor
from bot.engine.records import Run, RunState, StepState
from bot.engine.states import FINISHED
from bot.runbook.models import Step
from bot.runbook.suggest import did_you_mean


def find_step(ctx: Context, step_id: str) -> Step:
    step = ctx.runbook.step(step_id)
    if step is None:
        known = [s.id for s in ctx.runbook.steps()]
        raise Refused(f"no step {step_id}{did_you_mean(step_id, known)}")
    return step


def check_environment(step: Step, environment: str) -> None:
    if environment not in step.environments:
        raise Refused(
            f"{step.id} does not run in {environment}; it runs in {', '.join(step.environments)}. Nothing was changed."
        )


def require(ctx: Context, actor: Actor, capability: str) -> None:
    sentence = ctx.policy.check(actor, capability)
    if sentence is not None:
        raise Refused(sentence)


def require_active(run: Run) -> None:
    if run.state is RunState.ACTIVE:
        return
    why = f" ({run.reason})" if run.reason else ""
    raise Refused(f"The run is {run.state.value}{why}; resume it first. Nothing was changed.")


def run_capability(ctx: Context, environment: str) -> str:
    return "run_production" if ctx.is_production(environment) else "run_staging"


async def check_order(ctx: Context, run: Run, step: Step, environment: str) -> None:
    """Staging before production, dependencies done, blocking gates decided YES."""
    if step.staging_first and ctx.is_production(environment):
        for env in [e for e in step.environments if not ctx.is_production(e)]:
            await _check_earlier(ctx, run, step, env, environment)
    for dep_id in step.depends_on:
        dep = ctx.runbook.step(dep_id)
        if dep is None:
            continue
        for env in dep.environments:
            lane = await ctx.lanes.get(run.id, dep.id, env)
            if lane.state not in FINISHED:
                raise Refused(
                    f"{step.id} depends on {dep.id}, which is not done in {env} (it is {lane.state.value}). "
                    "Finish it first; nothing was changed."
                )
    blocking = await gates.undecided_blocking(ctx, run, step.day)
    if blocking:
        ids = ", ".join(g.id for g in blocking)
        raise Refused(
            f"{step.id} cannot run before {ids} is decided YES. Nothing was changed; see /ion gate {blocking[0].id}."
        )


async def _check_earlier(ctx: Context, run: Run, step: Step, env: str, environment: str) -> None:
    """The "if test passes" of a staging-first step: ``env`` done, its evidence in and passing, its lists ticked."""
    lane = await ctx.lanes.get(run.id, step.id, env)
    problem: str | None = None
    if lane.state in (StepState.WAITING, StepState.VERIFYING, StepState.DONE) and not run.dry_run:
        problem = await manual.evidence_problem(ctx, run, step, env)
    if problem is None and lane.state is StepState.VERIFYING:
        problem = await _lists_problem(ctx, run, step, env)
    if problem is not None:
        raise Refused(f"{step.id} cannot run in {environment} yet: {problem}. Nothing was changed.")
    if lane.state is not StepState.DONE:
        raise Refused(
            f"{step.id} cannot run in {environment} until its {env} run is done "
            f"({env} is {lane.state.value}). Run it in {env} first; nothing was changed."
        )


async def _lists_problem(ctx: Context, run: Run, step: Step, env: str) -> str | None:
    """The first of ``env``'s lists with items neither ticked nor waived, with their numbers and when due."""
    numbers = {item.id: n for n, item in enumerate(step.checklist_items(), start=1)}
    for group in step.lane_checklists(env):
        status = await checklist.status(ctx, run.id, step.id, group.items)
        if status.complete:
            continue
        missing = ", ".join(f"{numbers[i.id]} {i.id}" for i in status.missing)
        when = await checklist.due(ctx, run, step, group)
        later = ""
        if not when.is_due(ctx.clock.now()) and when.at is not None:
            later = f" (due from {ctx.show_time(when.at)})"
        first = numbers[status.missing[0].id]
        return (
            f"its {env} checklist '{group.title}' is not complete (missing {missing}){later}; "
            f"tick them with /ion tick {step.id} {first}"
        )
    return None
