"""Go/No-Go commands of the Rollout facade: tick, measure, override, decide, reopen, sign off.

Also the audited look-ups every command of the facade starts with, so that "There is no run in
this channel" and "no step day2.7" reach the audit log like every other refusal.
"""

from __future__ import annotations

from bot.engine import checklist, gates, guards
from bot.engine.audit_kinds import AuditKind
from bot.engine.ports import Actor
from bot.engine.records import Run, RunState
from bot.engine.rollout_reads import Reads
from bot.runbook.models import Step


class GateCommands(Reads):
    async def command_run(self, channel: str, actor: Actor, what: AuditKind, scope: str | None = None) -> Run:
        """``require_run`` for a command (here or in the chat layer): its refusal is audited as
        ``what``, with no run id (there is none)."""
        async with self._audited(actor, what, None, scope):
            return await self.require_run(channel)

    async def command_step(self, channel: str, step_id: str, actor: Actor, what: AuditKind) -> tuple[Run, Step]:
        """``require_step`` for a command: an unknown step is audited against the channel's run."""
        run = await self.command_run(channel, actor, what, step_id)
        async with self._audited(actor, what, run, step_id):
            return run, guards.find_step(self._ctx, step_id)

    async def gate_tick(self, channel: str, gate_id: str, item_id: str, actor: Actor) -> gates.GateView:
        run = await self.command_run(channel, actor, AuditKind.GATE_TICK, gate_id)
        async with self._audited(actor, AuditKind.GATE_TICK, run, gate_id):
            guards.require(self._ctx, actor, "tick")
            gate = gates.find_gate(self._ctx, gate_id)
            await checklist.tick(self._ctx, run, gate.id, gates.gate_items(gate), item_id, actor)
        return await gates.view(self._ctx, run, gate)

    async def gate_untick(self, channel: str, gate_id: str, item_id: str, actor: Actor) -> gates.GateView:
        run = await self.command_run(channel, actor, AuditKind.GATE_UNTICK, gate_id)
        async with self._audited(actor, AuditKind.GATE_UNTICK, run, gate_id):
            guards.require(self._ctx, actor, "tick")
            gate = gates.find_gate(self._ctx, gate_id)
            await checklist.untick(self._ctx, run, gate.id, gates.gate_items(gate), item_id, actor)
        return await gates.view(self._ctx, run, gate)

    async def gate_check_health(self, channel: str, gate_id: str, actor: Actor) -> gates.GateView:
        run = await self.command_run(channel, actor, AuditKind.GATE_HEALTH, gate_id)
        async with self._audited(actor, AuditKind.GATE_HEALTH, run, gate_id):
            return await gates.check_health(self._ctx, run, gates.find_gate(self._ctx, gate_id), actor)

    async def gate_override(self, channel: str, gate_id: str, label: str, reason: str, actor: Actor) -> gates.GateView:
        run = await self.command_run(channel, actor, AuditKind.GATE_OVERRIDE, gate_id)
        async with self._audited(actor, AuditKind.GATE_OVERRIDE, run, gate_id):
            guards.require(self._ctx, actor, "decide_gate")
            gate = gates.find_gate(self._ctx, gate_id)
            return await gates.override(self._ctx, run, gate, gates.resolve_check(gate, label), reason, actor)

    async def gate_decide(
        self, channel: str, gate_id: str, yes: bool, reason: str | None, actor: Actor
    ) -> gates.GateView:
        run = await self.command_run(channel, actor, AuditKind.GATE_DECIDE, gate_id)
        async with self._ctx.unit_of_work():  # a NO and the pause it makes, or neither
            async with self._audited(actor, AuditKind.GATE_DECIDE, run, gate_id):
                guards.require(self._ctx, actor, "decide_gate")
                view = await gates.decide(self._ctx, run, gates.find_gate(self._ctx, gate_id), yes, reason, actor)
            if not yes and (await self.require_run(channel)).state is not RunState.PAUSED:
                # Already paused (an earlier NO, reopened and decided NO again; an incident): the NO is
                # recorded and the run stays paused; refusing "already paused" would hide that it was.
                await self._set_run_state(channel, actor, RunState.PAUSED, f"{gate_id} decided NO: {reason}")
        return view

    async def gate_reopen(self, channel: str, gate_id: str, reason: str, actor: Actor) -> gates.GateView:
        """Take back a NO (what is cleared and why: ``gates.reopen``). The run's state is left alone:
        a run paused by the NO goes on with ``resume``, before or after the reopening."""
        run = await self.command_run(channel, actor, AuditKind.GATE_REOPEN, gate_id)
        async with self._audited(actor, AuditKind.GATE_REOPEN, run, gate_id):
            guards.require(self._ctx, actor, "decide_gate")
            return await gates.reopen(self._ctx, run, gates.find_gate(self._ctx, gate_id), reason, actor)

    async def gate_signoff(self, channel: str, gate_id: str, role: str, actor: Actor) -> gates.GateView:
        run = await self.command_run(channel, actor, AuditKind.GATE_SIGN_OFF, gate_id)
        async with self._audited(actor, AuditKind.GATE_SIGN_OFF, run, gate_id):
            return await gates.sign_off(self._ctx, run, gates.find_gate(self._ctx, gate_id), role, actor)
