"""Go/No-Go commands of the Rollout facade: tick, measure, override, decide, sign off."""

from __future__ import annotations

from bot.engine import checklist, gates, guards
from bot.engine.ports import Actor
from bot.engine.records import RunState
from bot.engine.rollout_reads import Reads


class GateCommands(Reads):
    async def gate_tick(self, channel: str, gate_id: str, item_id: str, actor: Actor) -> gates.GateView:
        run = await self.require_run(channel)
        async with self._audited(actor, "gate tick", run, gate_id):
            guards.require(self.ctx, actor, "tick")
            gate = gates.find_gate(self.ctx, gate_id)
            await checklist.tick(self.ctx, run, gate.id, gates.gate_items(gate), item_id, actor)
        return await gates.view(self.ctx, run, gate)

    async def gate_untick(self, channel: str, gate_id: str, item_id: str, actor: Actor) -> gates.GateView:
        run = await self.require_run(channel)
        async with self._audited(actor, "gate untick", run, gate_id):
            guards.require(self.ctx, actor, "tick")
            gate = gates.find_gate(self.ctx, gate_id)
            await checklist.untick(self.ctx, run, gate.id, gates.gate_items(gate), item_id, actor)
        return await gates.view(self.ctx, run, gate)

    async def gate_check_health(self, channel: str, gate_id: str, actor: Actor) -> gates.GateView:
        run = await self.require_run(channel)
        async with self._audited(actor, "gate health", run, gate_id):
            gate = gates.find_gate(self.ctx, gate_id)
        return await gates.check_health(self.ctx, run, gate, actor)

    async def gate_override(self, channel: str, gate_id: str, label: str, reason: str, actor: Actor) -> gates.GateView:
        run = await self.require_run(channel)
        async with self._audited(actor, "gate override", run, gate_id):
            guards.require(self.ctx, actor, "decide_gate")
            return await gates.override(self.ctx, run, gates.find_gate(self.ctx, gate_id), label, reason, actor)

    async def gate_decide(
        self, channel: str, gate_id: str, yes: bool, reason: str | None, actor: Actor
    ) -> gates.GateView:
        run = await self.require_run(channel)
        async with self._audited(actor, "gate decide", run, gate_id):
            guards.require(self.ctx, actor, "decide_gate")
            view = await gates.decide(self.ctx, run, gates.find_gate(self.ctx, gate_id), yes, reason, actor)
        if not yes:
            await self._set_run_state(channel, actor, RunState.PAUSED, f"{gate_id} decided NO: {reason}")
        return view

    async def gate_signoff(self, channel: str, gate_id: str, role: str, actor: Actor) -> gates.GateView:
        run = await self.require_run(channel)
        async with self._audited(actor, "gate sign-off", run, gate_id):
            return await gates.sign_off(self.ctx, run, gates.find_gate(self.ctx, gate_id), role, actor)
