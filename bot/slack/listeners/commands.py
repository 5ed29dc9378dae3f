"""`/ion ...`: acknowledge at once, parse, then do the one thing the command asks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.ports import Actor, AlertRecord
from bot.engine.records import Run
from bot.engine.units import unit_of_work
from bot.slack import command_parser as c
from bot.slack.blocks import help_message
from bot.slack.blocks.kit import Message
from bot.slack.blocks.mrkdwn import Mrkdwn, code, escape
from bot.slack.delivery.cards import card_key, text_message
from bot.slack.deps import ReportsPort
from bot.slack.listeners import AppState, answered, delivery_key, first_look
from bot.slack.listeners.backtest import on_backtest
from bot.slack.listeners.flows import done, preview_rollback, run_step
from bot.slack.listeners.oncall import delegate


async def on_command(state: AppState, ack: AsyncAck, body: dict[str, Any]) -> None:
    """One delivery of a command: a redelivery (a retry, the same envelope again) is answered again
    with the first answer and does nothing more (see bot/store/deliveries.py)."""
    await ack()
    channel, user = str(body.get("channel_id", "")), str(body.get("user_id", ""))
    text = str(body.get("text", ""))
    async with answered(state, channel, user, f"/ion {text.split(' ')[0]}", delivery_key(body)):
        parsed = c.parse(text)
        if isinstance(parsed, c.ParseError):
            await state.poster.say(channel, user, parse_error_text(parsed))
            return
        await first_look(state, channel)
        actor = await state.directory.actor(user, body.get("user_name"))
        command = Command(state, channel, actor, str(body.get("trigger_id", "")))
        await command.do(parsed)


def parse_error_text(parsed: c.ParseError) -> Mrkdwn:
    """The person's words escaped, the bot's own hint and usage line kept as code (not look-alike backticks)."""
    hint = f" {parsed.hint}" if parsed.hint else ""
    usage = f"\nUsage: {code(parsed.usage)}" if parsed.usage else ""
    return Mrkdwn(f"{escape(parsed.message)}{hint} Nothing was changed.{usage}")


class Command:
    """One command from one person in one channel."""

    def __init__(self, state: AppState, channel: str, actor: Actor, trigger_id: str) -> None:
        self.state = state
        self.deps = state.deps
        self.rollout = state.deps.rollout
        self.channel = channel
        self.actor = actor
        self.trigger_id = trigger_id

    async def say(self, text: str) -> None:
        await self.state.poster.say(self.channel, self.actor.user_id, text, dry_run=self.state.dry_run)

    async def show(self, message: Message, run: Run | None = None) -> None:
        await self.state.poster.post(self.channel, message, dry_run=bool(run and run.dry_run))

    async def do(self, command: c.Command) -> None:
        handler: Callable[[Any], Awaitable[None]] | None = getattr(self, "_" + type(command).__name__, None)
        if handler is None:  # every Command type has a method below; this guards a new one
            raise Refused(Mrkdwn(f"`/ion` does not handle {type(command).__name__} yet; nothing was changed."))
        await handler(command)

    _BacktestCommand = on_backtest  # bot/slack/listeners/backtest.py

    async def _run(self, command: AuditKind | None = None) -> Run:
        """The channel's run; for a ``command`` (as the engine audits it) a refusal is audited too."""
        if command is None:
            return await self.rollout.require_run(self.channel)
        return await self.rollout.command_run(self.channel, self.actor, command)

    async def _step(self, step_id: str, command: AuditKind) -> Run:
        """The run, for a command on ``step_id``: "no run" and "no step" refusals are audited."""
        run, _ = await self.rollout.command_step(self.channel, step_id, self.actor, command)
        return run

    # --- reading -----------------------------------------------------------------------------

    async def _HelpCommand(self, cmd: c.HelpCommand) -> None:
        await self.state.poster.ephemeral(self.channel, self.actor.user_id, help_message(cmd.topic, self.state.dry_run))

    async def _StatusCommand(self, cmd: c.StatusCommand) -> None:
        run = await self._run()
        await self.show(await self.state.render.status(run, today_only=False), run)

    async def _TodayCommand(self, cmd: c.TodayCommand) -> None:
        run = await self._run()
        await self.show(await self.state.render.status(run, today_only=True), run)

    async def _StepCommand(self, cmd: c.StepCommand) -> None:
        run = await self._run()
        await self.post_step(run, cmd.step_id)

    async def post_step(self, run: Run, step_id: str) -> None:
        _, message = await self.state.render.step(run, step_id)
        await self.state.poster.post(
            self.channel, message, dry_run=run.dry_run, track=card_key("step", run.id, step_id)
        )

    async def _NextCommand(self, cmd: c.NextCommand) -> None:
        view = await self.rollout.status(self.channel)
        if view.position.next_step is None:
            await self.say("There is no next step: everything scheduled is done or skipped.")
            return
        await self.post_step(view.run, view.position.next_step.step.id)

    async def _AuditCommand(self, cmd: c.AuditCommand) -> None:
        entries = await self.rollout.audit(self.channel, cmd.limit)
        if not entries:
            await self.say("The audit log of this run is empty.")
            return
        zone = self.rollout.zone  # the run's zone, as the cards, reports and console show time
        lines = [
            f"{e.at.astimezone(zone):%Y-%m-%d %H:%M} {e.actor_name}: {e.what} {e.scope or ''} "
            f"{e.before or ''}{' -> ' if e.after else ''}{e.after or ''} [{e.outcome}] {e.detail or ''}".strip()
            for e in entries
        ]
        await self.say(f"The newest {len(entries)} audit entries (times in {zone.key}):\n" + "\n".join(lines))

    # --- the run -----------------------------------------------------------------------------

    async def _StartCommand(self, cmd: c.StartCommand) -> None:
        runbook = self.deps.runbook
        if cmd.runbook != runbook.id:
            raise Refused(
                f"This bot runs the runbook '{runbook.id}', not '{cmd.runbook}'. "
                f"Nothing was started; try /ion start {runbook.id}."
            )
        today = self.deps.clock.now().astimezone(self.rollout.zone).date()
        run = await self.rollout.start_run(self.channel, cmd.date.resolve(today), self.actor, shift=cmd.shift)
        await self.say(f"Run {run.id} started; Day 1 is {run.start_date:%a %d %b}.")

    async def _PauseCommand(self, cmd: c.PauseCommand) -> None:
        await self.rollout.pause(self.channel, self.actor, f"paused by {self.actor.name} with /ion pause")

    async def _DelegateCommand(self, cmd: c.DelegateCommand) -> None:
        until = cmd.until.resolve(self.deps.clock.now().astimezone(self.rollout.zone).date())
        await delegate(self.state, self.channel, cmd.role, cmd.person, until, self.actor)

    async def _ResumeCommand(self, cmd: c.ResumeCommand) -> None:
        await self.rollout.resume(self.channel, self.actor)

    async def _FinishCommand(self, cmd: c.FinishCommand) -> None:
        run = await self.rollout.finish(self.channel, self.actor, cmd.reason)
        await self.say(f"Run {run.id} is finished; this channel can start another with /ion start.")

    async def _IncidentCommand(self, cmd: c.IncidentCommand) -> None:
        run = await self._run(AuditKind.INCIDENT)

        async def raise_alert(run: Run) -> AlertRecord:
            latest = await self.rollout.latest_production_step(run.id)
            return await self.deps.watcher.declare_incident(run.id, self.channel, cmd.text, self.actor, latest)

        # The incident, its audit entry, the alert and its page: all of them, or (cut off) none, for Slack's retry.
        _, alert = await self.rollout.declare_incident(self.channel, cmd.text, self.actor, raise_alert)
        if not alert.data.get("also_declared"):
            await self.say(f"Incident recorded (alert {alert.id}); on-call has been alerted.")
            return
        # A second declaration joins the open alert: its words go to that alert's thread, where on-call looks.
        where = await self.state.poster.where(card_key("alert", run.id, alert.id))
        line = text_message(f"Also declared by {self.actor.name}: {cmd.text}")
        await self.state.poster.post(self.channel, line, dry_run=run.dry_run, thread_ts=where[1] if where else None)
        place = "in its thread" if where else "in the channel"
        await self.say(
            f"Incident alert {alert.id} is already open, so no new alert was raised; your words were added to it "
            f"and posted {place}, where on-call follows it."
        )

    # --- steps -------------------------------------------------------------------------------

    async def _RunCommand(self, cmd: c.RunCommand) -> None:
        run = await self._step(cmd.step_id, AuditKind.REQUEST_RUN)
        env = cmd.environment or await self.rollout.next_lane(self.channel, cmd.step_id)
        assert env is not None  # the run and the step were found above
        await run_step(self.state, run, cmd.step_id, env, self.actor, self.trigger_id, None, None)

    async def _awaiting(self, step_id: str) -> str:
        run, step = await self.rollout.require_step(self.channel, step_id)
        return await self.rollout.awaiting_lane(run, step)

    async def _ApproveCommand(self, cmd: c.ApproveCommand) -> None:
        await self._step(cmd.step_id, AuditKind.APPROVE)
        env = cmd.environment or await self._awaiting(cmd.step_id)
        status = await self.rollout.approve(self.channel, cmd.step_id, env, self.actor)
        await self.say(status.after_vote(cmd.step_id, env))

    async def _RejectCommand(self, cmd: c.RejectCommand) -> None:
        await self._step(cmd.step_id, AuditKind.REJECT)
        env = await self._awaiting(cmd.step_id)
        await self.rollout.reject(self.channel, cmd.step_id, env, self.actor, cmd.reason)
        await self.say(f"You rejected {cmd.step_id} ({env}); the requester has been told why.")

    async def _SkipCommand(self, cmd: c.SkipCommand) -> None:
        await self._step(cmd.step_id, AuditKind.SKIP)
        run, step = await self.rollout.require_step(self.channel, cmd.step_id)
        open_lanes = await self.rollout.open_lanes(run, step)
        if not open_lanes:
            raise Refused(f"{cmd.step_id} is already done or skipped everywhere; nothing was changed.")
        async with unit_of_work():  # every open lane skipped, or (cut off) none
            for env in open_lanes:
                await self.rollout.skip(self.channel, cmd.step_id, env, cmd.reason, self.actor)

    async def _RollbackCommand(self, cmd: c.RollbackCommand) -> None:
        run = await self._run(AuditKind.ROLLBACK_PREVIEW)
        await preview_rollback(self.state, run, cmd.step_id or "last", self.actor, self.trigger_id, None)

    # --- checklists and gates ------------------------------------------------------------------

    def _is_gate(self, target: str) -> bool:
        return self.deps.runbook.gate(target) is not None or not target.startswith("day")

    def _item_name(self, step_id: str, ref: str) -> str:
        """``2 (no-errors)`` for an item named by its card number; the id as typed otherwise."""
        step = self.deps.runbook.step(step_id)
        items = step.checklist_items() if step else []
        if ref.isdigit() and 1 <= int(ref) <= len(items):
            return f"{ref} ({items[int(ref) - 1].id})"
        return ref

    async def _TickCommand(self, cmd: c.TickCommand) -> None:
        if self._is_gate(cmd.target_id):
            view = await self.rollout.gate_tick(self.channel, cmd.target_id, cmd.item_id, self.actor)
            run = await self._run()
            if await self.state.poster.where(card_key("gate", run.id, cmd.target_id)) is None:
                # No card shows the tick yet: say it, and how to see the card.
                await self.say(
                    f"Ticked {cmd.item_id} of {cmd.target_id}: {view.sections.summary()}. "
                    f"Its Go/No-Go card is not posted yet; /ion gonogo {cmd.target_id} posts it."
                )
        else:
            status = await self.rollout.tick(self.channel, cmd.target_id, cmd.item_id, self.actor)
            await self.say(
                f"Ticked {self._item_name(cmd.target_id, cmd.item_id)} of {cmd.target_id}: {status.summary()}."
            )
        await self.state.refresh_card(await self._run(), cmd.target_id)

    async def _UntickCommand(self, cmd: c.UntickCommand) -> None:
        if self._is_gate(cmd.target_id):
            await self.rollout.gate_untick(self.channel, cmd.target_id, cmd.item_id, self.actor)
        else:
            await self.rollout.untick(self.channel, cmd.target_id, cmd.item_id, self.actor)
        await self.state.refresh_card(await self._run(), cmd.target_id)

    async def _WaiveCommand(self, cmd: c.WaiveCommand) -> None:
        if self._is_gate(cmd.target_id):
            raise Refused(
                f"Gate items cannot be waived; tick them, or override a failing health check of {cmd.target_id} "
                "with a reason. Nothing was changed."
            )
        status = await self.rollout.waive(self.channel, cmd.target_id, cmd.item_id, cmd.reason, self.actor)
        await self.say(f"Waived {self._item_name(cmd.target_id, cmd.item_id)} of {cmd.target_id}: {status.summary()}.")
        await self.state.refresh_card(await self._run(), cmd.target_id)

    async def _DoneCommand(self, cmd: c.DoneCommand) -> None:
        await done(self.state, await self._run(), cmd.step_id, cmd.item, cmd.value, self.actor)

    async def _GoNoGoCommand(self, cmd: c.GoNoGoCommand) -> None:
        run = await self._run(AuditKind.GATE_HEALTH)
        gate_id = cmd.gate_id or await self._open_gate(run)
        await self.rollout.gate_check_health(self.channel, gate_id, self.actor)
        message = await self.state.render.gate(run, gate_id)
        await self.state.poster.post(
            self.channel, message, dry_run=run.dry_run, track=card_key("gate", run.id, gate_id)
        )

    async def _GateCommand(self, cmd: c.GateCommand) -> None:
        run = await self._run(AuditKind.GATE_CARD)
        gate_id = cmd.gate_id or await self._open_gate(run)
        record = await self.rollout.gate_record(run.id, gate_id)
        if record is None or not record.health:  # never measured: the card would show nothing to judge
            await self.rollout.gate_check_health(self.channel, gate_id, self.actor)
        else:
            await self.rollout.gate_view(self.channel, gate_id)  # an unknown gate is refused here
        message = await self.state.render.gate(run, gate_id)
        await self.state.poster.post(
            self.channel, message, dry_run=run.dry_run, track=card_key("gate", run.id, gate_id)
        )

    async def _OverrideCommand(self, cmd: c.OverrideCommand) -> None:
        # The engine's gate_changed event redraws the gate card and tells the channel.
        await self.rollout.gate_override(self.channel, cmd.gate_id, cmd.check, cmd.reason, self.actor)

    async def _ReopenCommand(self, cmd: c.ReopenCommand) -> None:
        # The engine's gate_changed event redraws the gate card and tells the channel.
        await self.rollout.gate_reopen(self.channel, cmd.gate_id, cmd.reason, self.actor)

    async def _open_gate(self, run: Run) -> str:
        gates = self.deps.runbook.gates
        if not gates:
            raise Refused("This runbook has no Go/No-Go gates.")
        for gate in sorted(gates, key=lambda g: g.day):
            record = await self.rollout.gate_record(run.id, gate.id)
            if record is None or record.decision is None:
                return gate.id
        return gates[-1].id

    # --- reports -------------------------------------------------------------------------------

    def _reports(self) -> ReportsPort:
        if self.state.reports is None:
            raise Refused(
                "Reports are not configured in this bot yet, so this command cannot answer; nothing was changed."
            )
        return self.state.reports

    async def _ReportCommand(self, cmd: c.ReportCommand) -> None:
        await self._reports().daily_report(self.channel, cmd.day, self.actor)

    async def _StandupCommand(self, cmd: c.StandupCommand) -> None:
        await self._reports().standup(self.channel, self.actor)

    async def _MetricsCommand(self, cmd: c.MetricsCommand) -> None:
        payload = await self._reports().metrics(self.channel, self.actor)
        message = Message(str(payload.get("text", "Metrics")), list(payload.get("blocks") or []))
        await self.show(message)

    async def _CostCommand(self, cmd: c.CostCommand) -> None:
        said = await self._reports().record_cost(self.channel, cmd.service, cmd.amount_usd, self.actor)
        await self.state.poster.post(self.channel, text_message(said), dry_run=self.state.dry_run)

    async def _RecordCommand(self, cmd: c.RecordCommand) -> None:
        said = await self._reports().record(self.channel, cmd.item, cmd.value, cmd.note, self.actor)
        await self.state.poster.post(self.channel, text_message(said), dry_run=self.state.dry_run)

    async def _ScalingCommand(self, cmd: c.ScalingCommand) -> None:
        said = await self._reports().scaling(self.channel, self.actor)
        await self.say(said)
