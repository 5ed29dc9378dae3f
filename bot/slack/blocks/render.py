"""Engine state in, finished Slack messages out: the step, gate, status and alert cards.

Plans are built here with the engine's side-effect-free ``build_plan`` (fresh snapshots), so
re-drawing a card never withdraws a vote or writes an audit entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.engine.plan import Plan
from bot.engine.ports import AlertRecord
from bot.engine.records import Run, StepState
from bot.engine.views import StepView
from bot.slack.blocks import alert_card, gate_card, status_card, step_card, today_card
from bot.slack.blocks.actions import ActionValue, Verb
from bot.slack.blocks.from_views import (
    alert_card_view,
    gate_card_view,
    gate_version,
    status_card_view,
    step_card_view,
)
from bot.slack.blocks.kit import Message, actions, button, section
from bot.slack.blocks.mrkdwn import mention_group, mention_user
from bot.slack.delivery.cards import card_key
from bot.web.links import run_link_block, step_link_block

if TYPE_CHECKING:
    from bot.slack.deps import SlackDeps

# Lanes whose card shows a Run button, and so needs a plan to fingerprint.
PLANNED = frozenset({StepState.PENDING, StepState.READY, StepState.APPROVED, StepState.FAILED, StepState.ROLLED_BACK})
SIGNOFF_ACTION = "ion:signoff"
ONCALL_ROLE = "sre_oncall"


class Renderer:
    def __init__(self, deps: SlackDeps) -> None:
        self._deps = deps

    @property
    def dry_run(self) -> bool:
        return self._deps.dry_run

    async def plans(self, view: StepView) -> list[Plan]:
        rollout = self._deps.rollout
        return [
            await rollout.draft_plan(view.run, view.step, lane.lane.environment)
            for lane in view.lanes
            if lane.lane.state in PLANNED
        ]

    async def step(self, run: Run, step_id: str) -> tuple[StepView, Message]:
        view = await self._deps.rollout.step_view(run.channel, step_id)
        card = step_card_view(view, await self.plans(view), self._deps.runbook, self.dry_run)
        message = step_card(card)
        link = step_link_block(self._deps.timeline_url(), run.id, step_id)  # the step's page (bot/web)
        if link is not None:
            message.blocks.insert(2, link)
        return view, message

    async def gate(self, run: Run, gate_id: str) -> Message:
        return self._linked(await self._gate(run, gate_id), run)

    async def _gate(self, run: Run, gate_id: str) -> Message:
        view = await self._deps.rollout.gate_view(run.channel, gate_id)
        links = await self._alert_links(run, [c.get("alert", "") for h in view.record.health for c in h.counted])
        message = gate_card(gate_card_view(view, run, self._deps.runbook, self.dry_run, links=links))
        signed = {s.role for s in view.record.signoffs}
        awaited = [role for role in view.gate.signoffs if role not in signed]
        if not awaited:
            return message
        value = ActionValue(run=run.id, step=view.gate.id, card_version=gate_version(view))
        buttons = []
        for role in awaited:
            element = button(f"Sign off as {role}", Verb.GATE_TICK, value, qualifier=role)
            element["action_id"] = f"{SIGNOFF_ACTION}:{role}"
            buttons.append(element)
        blocks = [*message.blocks[:-1], actions(buttons, block_id=f"signoff:{view.gate.id}"), message.blocks[-1]]
        return Message(message.text, blocks)

    def _linked(self, message: Message, run: Run, step_id: str | None = None) -> Message:
        """The card with a last line linking its run (or step) in the web timeline, when there is one."""
        link = run_link_block(self._deps.timeline_url(), run.id, step_id)
        return message if link is None else Message(message.text, [*message.blocks, link])

    async def _alert_links(self, run: Run, alert_ids: list[str]) -> dict[str, str]:
        """alert id -> a link to its card in Slack, for the alerts a gate counted (posted ones only)."""
        links: dict[str, str] = {}
        for alert_id in filter(None, alert_ids):
            found = await self._deps.cards.get_value(card_key("alert", run.id, alert_id))
            if isinstance(found, dict) and found.get("channel") and found.get("ts"):
                links[alert_id] = f"https://slack.com/archives/{found['channel']}/p{str(found['ts']).replace('.', '')}"
        return links

    async def status(self, run: Run, today_only: bool) -> Message:
        view = await self._deps.rollout.status(run.channel)
        alerts = len(await self._deps.alerts.active_alerts(run.id))
        card = status_card_view(view, self._deps.runbook, self.dry_run, alerts, today_only)
        return self._linked(today_card(card) if today_only else status_card(card), run)

    async def alert(self, alert: AlertRecord, run: Run) -> Message:
        return self._linked(self._alert(alert, run), run, alert.step_id)

    def _alert(self, alert: AlertRecord, run: Run) -> Message:
        group = self._deps.oncall_group
        view = alert_card_view(alert, run, self._deps.runbook, self.dry_run, group)
        message = alert_card(view)
        if group or alert.state != "open":
            return message
        mentions = self.oncall_mentions()
        if not mentions:
            return message
        line = " ".join(mentions)
        blocks = [*message.blocks[:-1], section(f"{line} please look at this now."), message.blocks[-1]]
        return Message(f"{message.text} {line}", blocks)

    def oncall_mentions(self) -> list[str]:
        """The on-call role's configured members as mentions (groups as groups, users as users)."""
        found: list[str] = []
        for member in sorted(self._deps.rollout.policy.members.get(ONCALL_ROLE, frozenset())):
            try:
                found.append(mention_group(member) if member.startswith("S") else mention_user(member))
            except ValueError:
                continue  # a demo id like U_SRE is not a real Slack id: no mention rather than a broken one
        return found
