"""The two flows a command and a button share: running a step and confirming a rollback.

Both may end in a confirmation dialog, and Slack opens one only within 3 s of the click; planning
against live Cloud Run can take longer, and the work also waits behind the channel's earlier
commands. So the app opens the dialog the moment the request arrives (``open_at_once``), saying
"Planning ...", and the flow fills it in with ``views.update``: the diff and the typed-name input,
or the refusal. If Slack refuses even that (an expired trigger), the person gets an ephemeral
button whose click brings a fresh trigger id.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from bot.engine.deliveries import AlreadyHandled
from bot.engine.errors import Refused
from bot.engine.executor import ExecutionResult
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.engine.rollback import RollbackPlan
from bot.runbook.models import Step
from bot.slack import command_parser as c
from bot.slack.blocks import confirmation_word, rollback_confirm_modal, run_confirm_modal
from bot.slack.blocks.actions import ActionValue, Verb, parse_action_id
from bot.slack.blocks.from_engine import plan_view, rollback_card_view
from bot.slack.blocks.kit import Message
from bot.slack.blocks.modals import notice_modal, reopen_message
from bot.slack.blocks.views import CardMeta
from bot.slack.listeners import AppState

log = structlog.get_logger(__name__)

NOTHING_TO_CONFIRM = (
    "Nothing here needs your confirmation: the bot answered in the channel (only you can see it). Nothing was run."
)
FAILED = (
    "This could not be prepared: an unexpected error stopped it, and nothing was run. "
    "The bot's message in the channel has the error id."
)


def _meta(state: AppState, run: Run) -> CardMeta:
    return CardMeta(run.id, 0, state.dry_run or run.dry_run, state.deps.runbook.calendar.timezone)


# --- the dialog opened on arrival ------------------------------------------------------------


@dataclass(frozen=True)
class _Opened:
    view_id: str
    hash: str


@dataclass(frozen=True)
class _Wanted:
    """What a request will ask to confirm, as far as its text or button says before any planning."""

    callback: Verb
    channel: str
    step_id: str | None
    env: str | None


class Dialog:
    """A confirm dialog opened as the request arrived, shown as a notice until the flow fills it in."""

    def __init__(self, state: AppState, trigger_id: str, wanted: _Wanted) -> None:
        self.callback = wanted.callback
        self.tried = False  # views.open was sent: the trigger id is spent, whatever Slack answered
        self.settled = False  # the flow (or release) has replaced the "Planning ..." notice
        self._opened: _Opened | None = None
        self.opening: asyncio.Task[_Opened | None] = state.spawn(self._open(state, trigger_id, wanted))

    async def _open(self, state: AppState, trigger_id: str, wanted: _Wanted) -> _Opened | None:
        env = wanted.env
        if wanted.callback is Verb.CONFIRM_RUN and wanted.step_id and env is None:
            env = await state.deps.rollout.next_lane(wanted.channel, wanted.step_id)
            if env is None or not state.deps.rollout.is_production(env):
                return None  # the run starts without a dialog; the trigger stays unspent
        self.tried = True
        view = notice_modal(self.callback, _opening_text(wanted, env), dry_run=state.dry_run, close="Cancel")
        try:
            response = await state.outbox.client.views_open(trigger_id=trigger_id, view=view)
        except Exception as error:  # expired_trigger_id above all; the flow falls back to a button
            log.warning("the confirm dialog did not open on arrival", error=str(error), trigger_id=trigger_id)
            return None
        opened = response.get("view") or {}
        self._opened = _Opened(str(opened.get("id", "")), str(opened.get("hash", "")))
        return self._opened

    async def show(self, state: AppState, view: dict[str, Any]) -> bool:
        """Replace what the dialog shows (hash from the last answer); False if it is not open or Slack refused."""
        try:
            opened = await self.opening
        except Exception:  # the lane lookup before opening failed; there is no dialog to show
            log.exception("opening the confirm dialog failed")
            return False
        if opened is None or self._opened is None:
            return False
        try:
            response = await state.outbox.client.views_update(
                view_id=self._opened.view_id, hash=self._opened.hash, view=view
            )
        except Exception as error:  # closed by the person, or a newer update; the caller has a fallback
            log.warning("the confirm dialog could not be updated", error=str(error), view_id=self._opened.view_id)
            return False
        self.settled = True
        updated = response.get("view") or {}
        self._opened = _Opened(self._opened.view_id, str(updated.get("hash", "")))
        return True


def open_at_once(state: AppState, body: dict[str, Any]) -> str | None:
    """Open the confirm dialog now when this command or click may end in one; the key for ``release``.

    Called before the ack, outside the work queue, so the trigger id is used within its 3 s.
    """
    trigger_id = str(body.get("trigger_id") or "")
    wanted = _wanted(state, body)
    if not trigger_id or wanted is None or trigger_id in state.dialogs:
        return None
    state.dialogs[trigger_id] = Dialog(state, trigger_id, wanted)
    return trigger_id


async def release(state: AppState, key: str | None) -> None:
    """After the request's work: a dialog the flow never filled in says where the answer went."""
    dialog = state.dialogs.pop(key, None) if key else None
    if dialog is not None and not dialog.settled:
        await dialog.show(state, notice_modal(dialog.callback, NOTHING_TO_CONFIRM, dry_run=state.dry_run))


def _wanted(state: AppState, body: dict[str, Any]) -> _Wanted | None:
    if body.get("command"):
        channel = str(body.get("channel_id", ""))
        parsed = c.parse(str(body.get("text", "")))
        if isinstance(parsed, c.RunCommand | c.RollbackCommand) and not _known_step(state, parsed.step_id):
            return None  # no dialog for a step the runbook lacks: the one refusal says so, once
        if isinstance(parsed, c.RunCommand):
            if parsed.environment and not state.deps.rollout.is_production(parsed.environment):
                return None
            return _Wanted(Verb.CONFIRM_RUN, channel, parsed.step_id, parsed.environment)
        if isinstance(parsed, c.RollbackCommand):
            return _Wanted(Verb.CONFIRM_ROLLBACK, channel, parsed.step_id, None)
        return None
    clicked = (body.get("actions") or [{}])[0]
    parsed_id = parse_action_id(str(clicked.get("action_id", "")))
    value = ActionValue.decode(str(clicked.get("value", "")))
    if parsed_id is None or value is None:
        return None
    verb, qualifier = parsed_id
    channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
    env = value.env or qualifier
    if verb is Verb.RUN and env and state.deps.rollout.is_production(env):
        return _Wanted(Verb.CONFIRM_RUN, channel, value.step, env)
    if verb is Verb.ROLLBACK:
        return _Wanted(Verb.CONFIRM_ROLLBACK, channel, value.step, value.env)
    return None


def _known_step(state: AppState, step_id: str | None) -> bool:
    """None (``/ion rollback`` alone) and ``last`` name the latest production step, which the engine finds."""
    return step_id in (None, "last") or state.deps.runbook.step(step_id) is not None


def _opening_text(wanted: _Wanted, env: str | None) -> str:
    if wanted.callback is Verb.CONFIRM_RUN:
        return f"Planning {wanted.step_id} on {env}…"
    if wanted.step_id is None:
        return "Reading what rolling back the latest production step restores…"
    where = f" on {env}" if env else ""
    return f"Reading what rolling back {wanted.step_id}{where} restores…"


class _Confirmation:
    """Where a flow's answer goes: the dialog opened on arrival, one opened now, or a button to open one."""

    def __init__(self, state: AppState, trigger_id: str, callback: Verb) -> None:
        self.state = state
        self.trigger_id = trigger_id
        self.callback = callback
        found = state.dialogs.get(trigger_id)
        self.dialog = found if found is not None and found.callback is callback else None

    async def notice(self, text: str) -> None:
        """A refusal or an answer instead of a plan, in the open dialog (no submit button)."""
        if self.dialog is not None:
            await self.dialog.show(self.state, notice_modal(self.callback, text, dry_run=self.state.dry_run))

    async def confirm(self, modal: dict[str, Any], channel: str, user: str, again: Message) -> None:
        """Show ``modal``; when no dialog can open any more, post ``again`` (its button asks anew).
        The request's delivery is taken first, so a redelivery of it shows no second dialog."""
        await self.state.deps.deliveries.take_delivery()
        if self.dialog is not None and await self.dialog.show(self.state, modal):
            return
        if self.dialog is None or not self.dialog.tried:
            try:
                await self.state.outbox.client.views_open(trigger_id=self.trigger_id, view=modal)
                return
            except Exception as error:  # expired_trigger_id: planning outlasted the trigger
                log.warning("the confirm dialog did not open", error=str(error), trigger_id=self.trigger_id)
        await self.state.poster.ephemeral(channel, user, again, dry_run=self.state.dry_run)

    @asynccontextmanager
    async def answering(self) -> AsyncIterator[None]:
        """A refusal or failure shows in the dialog too, then goes on to the handler's usual answer."""
        try:
            yield
        except Refused as refused:
            await self.notice(refused.message)
            raise
        except AlreadyHandled as handled:  # a dialog opened for a redelivery says so, not "an error"
            await self.notice(handled.again(self.state.deps.rollout.zone))
            raise
        except Exception:
            await self.notice(FAILED)
            raise


def _again(what: str, verb: Verb, run: Run, step_id: str, env: str) -> Message:
    text = (
        f"The confirmation dialog for {what} could not open in time (Slack allows 3 seconds after a click, "
        "and preparing it took longer). Press the button to see exactly what changes and confirm; "
        "nothing has been changed yet."
    )
    return reopen_message(text, verb, env, ActionValue(run=run.id, step=step_id, env=env))


# --- running a step --------------------------------------------------------------------------


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
    """Request the run; staging starts at once, production fills in the typed-confirmation dialog."""
    confirmation = _Confirmation(state, trigger_id, Verb.CONFIRM_RUN)
    async with confirmation.answering():
        await _run_step(state, run, step_id, env, actor, confirmation, seen, at)


async def _run_step(
    state: AppState,
    run: Run,
    step_id: str,
    env: str,
    actor: Actor,
    confirmation: _Confirmation,
    seen: ActionValue | None,
    at: tuple[str, str] | None,
) -> None:
    rollout = state.deps.rollout
    plan = await rollout.request_run(run.channel, step_id, env, actor)
    if seen is not None and seen.fingerprint and seen.fingerprint != plan.fingerprint:
        await state.refresh_card(run, step_id, at)
        raise Refused(
            f"The plan of {step_id} ({env}) changed since this card was drawn; the card now shows the "
            "current plan. Review it and press Run again. Nothing was run."
        )
    step = state.deps.runbook.step(step_id)
    assert step is not None  # request_run found it
    if not plan.production:
        await start(state, run, step_id, env, actor, plan.fingerprint)
        await confirmation.notice(f"{step_id} on {env} needs no typed confirmation; it has started.")
        return
    preflight = await rollout.run_preflight(run, step, env, plan.fingerprint, actor)
    if preflight.refusal is not None:
        # Four eyes: the requester's own vote never counts, so no confirmation is offered.
        message = preflight.refusal
        await state.refresh_card(run, step_id, at)
        await state.poster.say(run.channel, actor.user_id, message, dry_run=state.dry_run)
        await confirmation.notice(message)
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
    again = _again(f"running {step_id} on {env}", Verb.RUN, run, step_id, env)
    await confirmation.confirm(modal, run.channel, actor.user_id, again)


async def done(state: AppState, run: Run, step_id: str, item: str, value: str | None, actor: Actor) -> None:
    """A person's Done (command, button or dialog): say what was recorded; a passing one carries the lane on."""
    outcome = await state.deps.rollout.done(run.channel, step_id, item, value, actor)
    await state.poster.say(run.channel, actor.user_id, outcome.message, dry_run=state.dry_run)
    if outcome.task is not None:
        state.spawn(_follow(state, run, actor, outcome.task))


async def start(state: AppState, run: Run, step_id: str, env: str, actor: Actor, fingerprint: str) -> None:
    """Claim the execution (the engine's claim is the only guard against doubles) and let it run."""
    started = await state.deps.rollout.start_execution(run.channel, step_id, env, actor, fingerprint)
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


# --- rolling back ----------------------------------------------------------------------------


def _rollback_modal(
    state: AppState, run: Run, step: Step, preview: RollbackPlan, channel: str, message_ts: str | None
) -> dict[str, Any]:
    view = rollback_card_view(preview, step, _meta(state, run))
    meta = ActionValue(
        run=run.id,
        step=step.id,
        env=preview.environment,
        fingerprint=preview.execution_id,
        channel=channel,
        message_ts=message_ts,
    )
    return rollback_confirm_modal(view, confirmation_word(step), meta)


async def preview_rollback(
    state: AppState, run: Run, target: str, actor: Actor, trigger_id: str, at: tuple[str, str] | None
) -> None:
    """Show exactly what a rollback restores (dialog), or say why there is nothing to restore."""
    confirmation = _Confirmation(state, trigger_id, Verb.CONFIRM_ROLLBACK)
    async with confirmation.answering():
        preview = await state.deps.rollout.rollback_preview(run.channel, target, actor)
        step = state.deps.runbook.step(preview.step_id)
        assert step is not None  # the engine found the lane by this step
        if preview.already_rolled_back or not preview.targets:
            await state.poster.say(run.channel, actor.user_id, preview.lines[0], dry_run=state.dry_run)
            await confirmation.notice(preview.lines[0])
            return
        modal = _rollback_modal(state, run, step, preview, at[0] if at else run.channel, at[1] if at else None)
        what = f"rolling back {step.id} on {preview.environment}"
        again = _again(what, Verb.ROLLBACK, run, step.id, preview.environment)
        await confirmation.confirm(modal, run.channel, actor.user_id, again)
