"""Buttons and checkboxes on the bot's cards (action ids ``ion:<verb>[:<qualifier>]``).

Each click is acknowledged at once. A click on a card that no longer shows the current state
(another run, lanes moved, plan changed) is refused with a note and the card is re-drawn.
Double clicks and Slack retries are harmless: a click's delivery (its trigger id) is taken in the
transaction of its first effect, so a redelivery is answered again and changes nothing, and the
engine's claims let exactly one of several clicks start work.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.engine import manual
from bot.engine.errors import Refused
from bot.engine.evidence import example
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.engine.units import unit_of_work
from bot.reports.handover import HANDOVER_ACTION
from bot.slack.blocks.actions import ActionValue, Verb, parse_action_id
from bot.slack.blocks.from_views import gate_version, step_version
from bot.slack.blocks.reason_modal import reason_modal
from bot.slack.blocks.record_fact import record_modal
from bot.slack.blocks.render import SIGNOFF_ACTION
from bot.slack.listeners import AppState, answered, delivery_key, first_look
from bot.slack.listeners.flows import done, preview_rollback, run_step
from bot.slack.listeners.oncall import accept_handover


class Click:
    """One click: who, where, on what card, carrying which value."""

    def __init__(self, state: AppState, body: dict[str, Any], action: dict[str, Any], actor: Actor) -> None:
        self.state = state
        self.body = body
        self.action = action
        self.actor = actor
        container = body.get("container") or {}
        self.channel = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
        ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
        self.at: tuple[str, str] | None = (self.channel, str(ts)) if ts and self.channel else None
        self.trigger_id = str(body.get("trigger_id", ""))

    async def say(self, text: str) -> None:
        await self.state.poster.say(self.channel, self.actor.user_id, text, dry_run=self.state.dry_run)

    async def run(self, value: ActionValue) -> Run:
        run = await self.state.deps.rollout.require_run(self.channel)
        if value.run != run.id:
            raise Refused(
                "This card belongs to an earlier run of this channel; nothing was changed. "
                "Ask for a fresh card with /ion status or /ion step."
            )
        return run

    async def fresh_step(self, value: ActionValue) -> Run:
        """The current run, after checking the card still shows the step's current lanes."""
        run = await self.run(value)
        if value.step is None or not value.card_version:
            return run
        view = await self.state.deps.rollout.step_view(self.channel, value.step)
        if step_version(view) != value.card_version:
            await self.state.refresh_card(run, value.step, self.at)
            raise Refused(
                f"This card of {value.step} was out of date (its state changed since it was drawn); "
                "it now shows the current state. Nothing was changed; press again if you still mean it."
            )
        return run


async def on_action(state: AppState, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
    await ack()
    user = body.get("user") or {}
    channel = str((body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or "")
    user_id = str(user.get("id", ""))
    action_name = str(action.get("action_id", ""))
    async with answered(state, channel, user_id, f"the button {action_name}", delivery_key(body)):
        await first_look(state, channel)
        actor = await state.directory.actor(user_id, user.get("username") or user.get("name"))
        click = Click(state, body, action, actor)
        if action_name == HANDOVER_ACTION:  # I have it, on the 5 PM report (bot/slack/listeners/oncall.py)
            await accept_handover(state, click.channel, str(action.get("value", "")), actor)
            return
        if action_name.startswith(SIGNOFF_ACTION + ":"):
            await _signoff(click, action_name.split(":", 2)[2])
            return
        parsed = parse_action_id(action_name)
        if parsed is None:
            raise Refused("This button is not one the bot knows (an old card?); nothing was changed.")
        verb, qualifier = parsed
        if verb in (Verb.TICK, Verb.GATE_TICK):
            await _ticks(click, verb)
            return
        value = ActionValue.decode(str(action.get("value", "")))
        if value is None:
            raise Refused("This button carries no card data the bot can read (an old card?); nothing was changed.")
        await _BY_VERB[verb](click, value, qualifier)


# --- step card ---------------------------------------------------------------------------------


async def _approve(click: Click, value: ActionValue, qualifier: str | None) -> None:
    run = await click.fresh_step(value)
    env = value.env or qualifier or ""
    status = await click.state.deps.rollout.approve(run.channel, str(value.step), env, click.actor)
    await click.say(status.after_vote(str(value.step), env))


async def _reject(click: Click, value: ActionValue, qualifier: str | None) -> None:
    await click.fresh_step(value)
    meta = ActionValue(
        run=value.run,
        step=value.step,
        env=value.env or qualifier,
        card_version=value.card_version,
        channel=click.channel,
        message_ts=click.at[1] if click.at else None,
    )
    question = f"Why reject {value.step} ({meta.env})? The requester sees your reason."
    modal = reason_modal("Reject step", question, Verb.REJECT, meta, click.state.dry_run)
    await click.state.deps.deliveries.take_delivery()  # a redelivered click opens no second dialog
    await click.state.outbox.client.views_open(trigger_id=click.trigger_id, view=modal)


async def _run(click: Click, value: ActionValue, qualifier: str | None) -> None:
    run = await click.fresh_step(value)
    env = value.env or qualifier or ""
    await run_step(click.state, run, str(value.step), env, click.actor, click.trigger_id, value, click.at)


async def _rollback(click: Click, value: ActionValue, qualifier: str | None) -> None:
    run = await click.run(value)
    target = f"{value.step}@{value.env}" if value.step and value.env else (value.step or "last")
    await preview_rollback(click.state, run, target, click.actor, click.trigger_id, click.at)


async def _done(click: Click, value: ActionValue, qualifier: str | None) -> None:
    """Done on a manual action: at once when it asks for nothing, else a dialog asks for its value."""
    run = await click.run(value)
    step = click.state.deps.runbook.step(value.step or "")
    spec = next((i.spec for i in manual.items(step) if i.ref == value.item), None) if step else None
    if step is None or spec is None or spec.value is None:
        await done(click.state, run, str(value.step), value.item or "", None, click.actor)
        return
    meta = ActionValue(
        run=run.id,
        step=step.id,
        env=value.env,
        item=value.item,
        channel=click.channel,
        message_ts=click.at[1] if click.at else None,
    )
    rule = f" ({spec.accept.text})" if spec.accept is not None else ""
    wanted = f"{spec.value.name} in {spec.value.unit}{rule}, e.g. {example(spec.value)}"
    question = f"{spec.title or spec.instruction}: enter {wanted}."
    modal = reason_modal("Done", question, Verb.DONE, meta, click.state.dry_run, label="Value", multiline=False)
    await click.state.outbox.client.views_open(trigger_id=click.trigger_id, view=modal)


async def _record(click: Click, value: ActionValue, qualifier: str | None) -> None:
    """Record on the daily report: a dialog asks whether the quality target holds, and a note."""
    from bot.reports.facts import find_target  # not before the first answer: it brings the report model

    run = await click.run(value)
    target = find_target(click.state.deps.runbook, value.item or qualifier or "")  # refuses an unknown one
    meta = ActionValue(run=run.id, item=value.item or qualifier, channel=click.channel)
    await click.state.deps.deliveries.take_delivery()  # a redelivered click opens no second dialog
    modal = record_modal(meta, target.label, click.state.dry_run)
    await click.state.outbox.client.views_open(trigger_id=click.trigger_id, view=modal)


async def _hold(click: Click, value: ActionValue, qualifier: str | None) -> None:
    state = click.state
    run = await click.run(value)
    async with unit_of_work():  # the alert's hold and the run's, or (cut off) neither, for Slack's retry
        if value.alert:
            await state.deps.watcher.hold(value.alert, click.actor)
        if run.state.value != "held":
            reason = f"held by {click.actor.name} from " + ("an alert" if value.alert else "a card")
            await state.deps.rollout.hold(run.channel, click.actor, reason)
    if value.alert:
        await _refresh_alert(click, value.alert, run)
        await click.say(
            "The run is held: no step runs until someone resumes it, and this alert's automatic rollback "
            "will not start even then; press Roll back if it is needed."
        )
        return
    await click.say("The run is held: no step runs, and no automatic rollback starts, until someone resumes it.")


async def _acknowledge(click: Click, value: ActionValue, qualifier: str | None) -> None:
    run = await click.run(value)
    if not value.alert:
        raise Refused("This button names no alert; nothing was acknowledged.")
    await click.state.deps.watcher.acknowledge(value.alert, click.actor)
    await _refresh_alert(click, value.alert, run)


async def _refresh_alert(click: Click, alert_id: str, run: Run) -> None:
    alert = await click.state.deps.alerts.get_alert(alert_id)
    if alert is not None and click.at is not None:
        message = await click.state.render.alert(alert, run)
        await click.state.poster.update(click.at[0], click.at[1], message, dry_run=run.dry_run)


# --- checklists and gates ------------------------------------------------------------------------


async def _ticks(click: Click, verb: Verb) -> None:
    """A checkbox group sends what is selected now; the difference to the stored ticks is the change."""
    state, rollout = click.state, click.state.deps.rollout
    options = _block_options(click)
    selected = {o.get("value") for o in click.action.get("selected_options") or []}
    values = [v for v in (ActionValue.decode(str(o.get("value"))) for o in options) if v is not None]
    if not values:
        raise Refused("These checkboxes carry no card data the bot can read (an old card?); nothing was ticked.")
    run = await click.run(values[0])
    scope = str(values[0].step)
    if verb is Verb.GATE_TICK:
        stored = set((await rollout.gate_view(run.channel, scope)).sections.ticks)
    else:
        stored = set((await rollout.step_view(run.channel, scope)).checklist.ticks)
    async with unit_of_work():  # every box this click changed, or (cut off) none
        changed = await _apply_ticks(click, verb, run, scope, options, selected, stored)
    if not changed:  # the boxes match the store: maybe this very click, delivered again
        await state.deps.deliveries.take_delivery()
    await state.refresh_card(run, scope, click.at)


async def _apply_ticks(
    click: Click,
    verb: Verb,
    run: Run,
    scope: str,
    options: list[dict[str, Any]],
    selected: set[Any],
    stored: set[str],
) -> bool:
    """Tick and untick what differs between the boxes and the store; whether anything did."""
    rollout = click.state.deps.rollout
    changed = False
    for option, value in zip(options, (ActionValue.decode(str(o.get("value"))) for o in options), strict=True):
        if value is None or value.item is None:
            continue
        now_on = option.get("value") in selected
        changed = changed or now_on != (value.item in stored)
        if now_on and value.item not in stored:
            if verb is Verb.GATE_TICK:
                await rollout.gate_tick(run.channel, scope, value.item, click.actor)
            else:
                await rollout.tick(run.channel, scope, value.item, click.actor)
        elif not now_on and value.item in stored:
            if verb is Verb.GATE_TICK:
                await rollout.gate_untick(run.channel, scope, value.item, click.actor)
            else:
                await rollout.untick(run.channel, scope, value.item, click.actor)
    return changed


def _block_options(click: Click) -> list[dict[str, Any]]:
    """Every option of the clicked checkbox group (Slack sends only the selected ones in the action)."""
    block_id = click.action.get("block_id")
    for block in (click.body.get("message") or {}).get("blocks") or []:
        if block.get("block_id") == block_id:
            for element in block.get("elements") or []:
                if element.get("action_id") == click.action.get("action_id"):
                    return list(element.get("options") or [])
    return list(click.action.get("selected_options") or [])


async def _gate_decide(click: Click, value: ActionValue, qualifier: str | None) -> None:
    state = click.state
    run = await click.run(value)
    gate_id = str(value.step)
    view = await state.deps.rollout.gate_view(run.channel, gate_id)
    if value.card_version and gate_version(view) != value.card_version:
        await state.refresh_card(run, gate_id, click.at)
        raise Refused(
            f"{gate_id} changed since this card was drawn (a decision, a reopen, a health check or a "
            "sign-off); the card now shows it. Look again and decide. Nothing was changed."
        )
    if (value.decision or qualifier) == "yes":
        await state.deps.rollout.gate_decide(run.channel, gate_id, True, None, click.actor)
        await state.refresh_card(run, gate_id, click.at)
        return
    meta = ActionValue(
        run=run.id,
        step=gate_id,
        decision="no",
        card_version=value.card_version,
        channel=click.channel,
        message_ts=click.at[1] if click.at else None,
    )
    question = f"Why is {gate_id} a NO? The run pauses until the gate is decided again."
    modal = reason_modal("Decide NO", question, Verb.GATE_DECIDE, meta, state.dry_run)
    await state.deps.deliveries.take_delivery()  # a redelivered click opens no second dialog
    await state.outbox.client.views_open(trigger_id=click.trigger_id, view=modal)


async def _gate_recheck(click: Click, value: ActionValue, qualifier: str | None) -> None:
    """Measure the gate's health checks again (after a fix, or to see today's record) and redraw it."""
    run = await click.run(value)
    gate_id = str(value.step)
    view = await click.state.deps.rollout.gate_check_health(run.channel, gate_id, click.actor)
    await click.state.refresh_card(run, gate_id, click.at)
    failing = [h.label for h in view.record.health if h.passed is not True and not h.override_reason]
    if failing:
        await click.say(
            f"{gate_id} re-checked: still not passing: {'; '.join(failing)}. Fix it and press Re-check again, "
            f"or a lead or the manager can override one with /ion override {gate_id} CHECK REASON."
        )
    else:
        await click.say(f"{gate_id} re-checked: every health check passes (or is overridden).")


async def _signoff(click: Click, role: str) -> None:
    value = ActionValue.decode(str(click.action.get("value", "")))
    if value is None or value.step is None:
        raise Refused("This sign-off button carries no card data the bot can read; nothing was signed.")
    run = await click.run(value)
    await click.state.deps.rollout.gate_signoff(run.channel, value.step, role, click.actor)
    await click.state.refresh_card(run, value.step, click.at)


async def _not_a_button(click: Click, value: ActionValue, qualifier: str | None) -> None:
    raise Refused("That control is part of a dialog, not a card; nothing was changed.")


_BY_VERB = {
    Verb.APPROVE: _approve,
    Verb.REJECT: _reject,
    Verb.RUN: _run,
    Verb.ROLLBACK: _rollback,
    Verb.HOLD: _hold,
    Verb.ACK: _acknowledge,
    Verb.GATE_DECIDE: _gate_decide,
    Verb.GATE_RECHECK: _gate_recheck,
    Verb.DONE: _done,
    Verb.RECORD: _record,
    Verb.TICK: _not_a_button,
    Verb.GATE_TICK: _not_a_button,
    Verb.CONFIRM_RUN: _not_a_button,
    Verb.CONFIRM_ROLLBACK: _not_a_button,
    Verb.TYPED_NAME: _not_a_button,
}
