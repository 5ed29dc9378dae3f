"""The two flows a command and a button share: running a step and confirming a rollback."""

from __future__ import annotations

import asyncio

import structlog

from bot.engine import approvals
from bot.engine.errors import Refused
from bot.engine.executor import ExecutionResult
from bot.engine.ports import Actor
from bot.engine.records import Run, StepState
from bot.engine.rollback import RollbackPlan
from bot.runbook.models import Step
from bot.slack.blocks import confirmation_word, rollback_confirm_modal, run_confirm_modal
from bot.slack.blocks.actions import ActionValue
from bot.slack.blocks.from_engine import plan_view, rollback_card_view
from bot.slack.blocks.views import CardMeta
from bot.slack.handlers import AppState

log = structlog.get_logger(__name__)


def _meta(state: AppState, run: Run) -> CardMeta:
    return CardMeta(run.id, 0, state.dry_run or run.dry_run, state.bot.runbook.calendar.timezone)


async def run_step(
    state: AppState,
    run: Run,
    step_id: str,
    env: str,
    actor: Actor,
    trigger_id: str,
    seen: ActionValue | None,
    at: tuple[str, str] | None,
) -> None:
    """Request the run; staging starts at once, production opens the typed-confirmation modal."""
    rollout = state.bot.rollout
    plan = await rollout.request_run(run.channel, step_id, env, actor)
    if seen is not None and seen.fingerprint and seen.fingerprint != plan.fingerprint:
        await state.refresh_card(run, step_id, at)
        raise Refused(
            f"The plan of {step_id} ({env}) changed since this card was drawn; the card now shows the "
            "current plan. Review it and press Run again. Nothing was run."
        )
    step = state.bot.runbook.step(step_id)
    assert step is not None  # request_run found it
    if not plan.production:
        await start(state, run, step_id, env, actor, plan.fingerprint)
        return
    lane = await rollout.ctx.lanes.get(run.id, step_id, env)
    status = await approvals.evaluate(rollout.ctx, step, lane, plan.fingerprint, actor.user_id)
    if lane.state is not StepState.APPROVED or not status.satisfied:
        # Four eyes: the requester's own vote never counts, so no confirmation dialog is offered.
        message = (
            f"You asked to run {step_id} on {env}; it {status.summary()} before it can run "
            "(your own approval does not count in production). Nothing was run yet."
        )
        if lane.state is StepState.APPROVED:
            await rollout.ctx.auditor.record(
                actor, "confirm run", run_id=run.id, step_id=step_id, outcome="refused", detail=message
            )
        await state.refresh_card(run, step_id, at)
        await state.poster.say(run.channel, actor.user_id, message, dry_run=state.dry_run)
        return
    meta = ActionValue(
        run=run.id,
        step=step_id,
        env=env,
        fingerprint=plan.fingerprint,
        card_version=seen.card_version if seen else 0,
        channel=at[0] if at else run.channel,
        message_ts=at[1] if at else None,
    )
    modal = run_confirm_modal(step, plan_view(plan, step), meta, dry_run=state.dry_run or run.dry_run)
    await state.outbox.client.views_open(trigger_id=trigger_id, view=modal)


async def start(state: AppState, run: Run, step_id: str, env: str, actor: Actor, fingerprint: str) -> None:
    """Claim the execution (the engine's claim is the only guard against doubles) and let it run."""
    started = await state.bot.rollout.start_execution(run.channel, step_id, env, actor, fingerprint)
    state.spawn(_follow(state, run, actor, started.task))


async def _follow(state: AppState, run: Run, actor: Actor, task: asyncio.Task[ExecutionResult]) -> None:
    try:
        await task
    except Exception:
        log.exception("execution task failed", run=run.id)
        await state.poster.say(
            run.channel,
            actor.user_id,
            "The execution stopped on an unexpected error; its records are kept and recovery will "
            "reconcile them. Check /ion status before running again.",
            dry_run=state.dry_run,
        )


async def open_rollback_modal(
    state: AppState,
    run: Run,
    step: Step,
    preview: RollbackPlan,
    trigger_id: str,
    channel: str,
    message_ts: str | None,
) -> None:
    view = rollback_card_view(preview, step, _meta(state, run))
    meta = ActionValue(
        run=run.id,
        step=step.id,
        env=preview.environment,
        fingerprint=preview.execution_id,
        channel=channel,
        message_ts=message_ts,
    )
    modal = rollback_confirm_modal(view, confirmation_word(step), meta)
    await state.outbox.client.views_open(trigger_id=trigger_id, view=modal)


async def preview_rollback(
    state: AppState, run: Run, target: str, actor: Actor, trigger_id: str, at: tuple[str, str] | None
) -> None:
    """Show exactly what a rollback restores (modal), or say why there is nothing to restore."""
    preview = await state.bot.rollout.rollback_preview(run.channel, target, actor)
    step = state.bot.runbook.step(preview.step_id)
    assert step is not None  # the engine found the lane by this step
    if preview.already_rolled_back or not preview.targets:
        await state.poster.say(run.channel, actor.user_id, preview.lines[0], dry_run=state.dry_run)
        return
    await open_rollback_modal(
        state, run, step, preview, trigger_id, at[0] if at else run.channel, at[1] if at else None
    )
