"""Dialog submissions: the typed confirmation of a production run or a rollback, and reasons.

A wrong typed name is answered inside the dialog (``response_action: errors``) and nothing
runs; a right one closes the dialog and the work goes on in the background. What the dialog
showed is checked again: the run's plan fingerprint (by the engine's start_execution) and the
execution a rollback reverts, so a plan that changed since the dialog opened is refused.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.engine.errors import Refused
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.slack.blocks import CONFIRM_BLOCK, confirmation_word, typed_confirmation_errors
from bot.slack.blocks.actions import ActionValue, Verb, action_id, parse_action_id
from bot.slack.blocks.reason_modal import REASON_BLOCK, REASON_INPUT, reason_errors
from bot.slack.blocks.record_fact import answer_errors, split_answer
from bot.slack.delivery.cards import text_message
from bot.slack.delivery.outage import answering
from bot.slack.listeners import AppState, answered, delivery_key
from bot.slack.listeners.flows import done, start


def _input(view: dict[str, Any], block: str, element: str) -> str | None:
    values = ((view.get("state") or {}).get("values") or {}).get(block) or {}
    found = values.get(element) or {}
    value = found.get("value")
    return str(value) if value is not None else None


async def on_submission(state: AppState, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
    meta = ActionValue.decode(str(view.get("private_metadata", "")))
    parsed = parse_action_id(str(view.get("callback_id", "")))
    user = body.get("user") or {}
    if meta is None or parsed is None:
        await ack()
        return
    verb = parsed[0]
    errors = _errors(state, verb, meta, view)
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    channel = meta.channel or ""
    user_id = str(user.get("id", ""))
    async with answered(state, channel, user_id, "the dialog", delivery_key(body)):
        actor = await state.directory.actor(user_id, user.get("username") or user.get("name"))
        run = await state.deps.rollout.require_run(channel)
        if run.id != meta.run:
            raise Refused("This dialog belongs to an earlier run of this channel; nothing was changed.")
        await _submit(state, verb, meta, view, run, actor, body)


def _errors(state: AppState, verb: Verb, meta: ActionValue, view: dict[str, Any]) -> dict[str, str] | None:
    if verb in (Verb.CONFIRM_RUN, Verb.CONFIRM_ROLLBACK):
        step = state.deps.runbook.step(meta.step or "")
        expected = confirmation_word(step) if step is not None else (meta.step or "")
        return typed_confirmation_errors(_input(view, CONFIRM_BLOCK, action_id(Verb.TYPED_NAME)), expected)
    if verb in (Verb.REJECT, Verb.GATE_DECIDE, Verb.DONE):
        return reason_errors(_input(view, REASON_BLOCK, REASON_INPUT))
    if verb is Verb.RECORD:
        from bot.reports.facts import NO, YES  # not before the first answer: it brings the report model

        answer = _input(view, REASON_BLOCK, REASON_INPUT)
        return answer_errors(answer, split_answer(answer)[0] in YES + NO)
    return None


async def _submit(
    state: AppState, verb: Verb, meta: ActionValue, view: dict[str, Any], run: Run, actor: Actor, body: dict[str, Any]
) -> None:
    rollout = state.deps.rollout
    step, env = meta.step or "", meta.env or ""
    at = (run.channel, meta.message_ts) if meta.message_ts else None
    if verb is Verb.CONFIRM_RUN:
        await start(state, run, step, env, actor, meta.fingerprint or "")
    elif verb is Verb.CONFIRM_ROLLBACK:
        state.spawn(_answering_outage(state, body, _rollback(state, run, f"{step}@{env}", actor, meta.fingerprint)))
    elif verb is Verb.REJECT:
        reason = _input(view, REASON_BLOCK, REASON_INPUT) or ""
        await rollout.reject(run.channel, step, env, actor, reason)
        await state.refresh_card(run, step, at)
    elif verb is Verb.GATE_DECIDE:
        reason = _input(view, REASON_BLOCK, REASON_INPUT) or ""
        await rollout.gate_decide(run.channel, step, False, reason, actor)
        await state.refresh_card(run, step, at)
    elif verb is Verb.DONE:
        await done(state, run, step, meta.item or "", _input(view, REASON_BLOCK, REASON_INPUT), actor)
    elif verb is Verb.RECORD:
        await _record(state, run, meta.item or "", _input(view, REASON_BLOCK, REASON_INPUT), actor)


async def _record(state: AppState, run: Run, item: str, answer: str | None, actor: Actor) -> None:
    """The Record dialog, recorded exactly as `/ion record ITEM VALUE [NOTE]` records it."""
    if state.reports is None:
        raise Refused("Reports are not configured in this bot yet, so nothing can be recorded; nothing was changed.")
    value, note = split_answer(answer)
    said = await state.reports.record(run.channel, item, value, note, actor)
    await state.poster.post(run.channel, text_message(said), dry_run=state.dry_run)


async def _answering_outage(state: AppState, body: dict[str, Any], work: Coroutine[Any, Any, None]) -> None:
    """Work that outlives the dialog's listener still answers an outage it meets (its response_urls)."""
    async with answering(state.deps.health, body):
        await work


async def _rollback(state: AppState, run: Run, target: str, actor: Actor, seen: str | None) -> None:
    """Roll back what the dialog showed: a lane that has run again since then is refused, not reverted."""
    async with answered(state, run.channel, actor.user_id, "the rollback"):
        if seen:
            preview = await state.deps.rollout.rollback_preview(run.channel, target, actor)
            if preview.execution_id != seen:
                raise Refused(
                    f"{preview.step_id} ({preview.environment}) ran again since the dialog was opened, so it "
                    "would restore something else now. Nothing was rolled back; ask for the rollback again."
                )
        result = await state.deps.rollout.confirm_rollback(run.channel, target, actor)
        if not result.ok:
            await state.poster.say(run.channel, actor.user_id, result.message, dry_run=state.dry_run)
