"""What stands in a run's way, for a report: open alerts, lanes waiting for votes or a runner, and
unticked checklist items; now, or as they stood at a past report time (a ``History``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from bot.engine import approvals
from bot.engine.ports import AlertRecord
from bot.engine.records import Approval, Run, StepState, Waiver
from bot.engine.report_model import OpenAlert, PendingApproval, UntickedItem
from bot.reports.history import History
from bot.runbook.models import Runbook, Step

if TYPE_CHECKING:
    from bot.bootstrap import Bot

WAITING_STATES = (StepState.READY.value, StepState.APPROVED.value)


class BlockersGatherer:
    """Reads the alerts, approvals and checklists of one run's blockers."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook

    async def alerts(self, run_id: str, at: datetime | None = None) -> list[OpenAlert]:
        """The active alerts; with ``at``, those that were open then (opened by then, not yet resolved)."""
        if at is None:
            return [
                OpenAlert(a.trigger_id, a.message, a.opened_at, a.state, a.kind)
                for a in await self.bot.store.active_alerts(run_id)
            ]
        return [
            OpenAlert(a.trigger_id, a.message, a.opened_at, alert_state_at(a, at), a.kind)
            for a in await self.bot.store.alerts(run_id)
            if a.opened_at <= at and not (a.state == "resolved" and (a.resolved_at is None or a.resolved_at <= at))
        ]

    async def pending(self, run: Run, names: dict[str, str], history: History | None = None) -> list[PendingApproval]:
        """Lanes someone asked to run that still need votes, and approved lanes nobody has run yet
        (now, or as they stood at ``history.at``, counting only the votes given and not withdrawn by then)."""
        # step, environment, state, who asked (shown), who may not approve it in production (four eyes)
        waiting: list[tuple[str, str, str, str | None, str | None]] = []
        if history is None:
            for lane in await self.bot.store.lanes(run.id):
                shown = lane.requested_by or lane.changed_by
                waiting.append((lane.step_id, lane.environment, lane.state.value, shown, lane.requested_by))
        else:
            requesters = history.requesters()
            for (step_id, environment), move in history.lanes().items():
                asked = requesters.get((step_id, environment))
                waiting.append((step_id, environment, move.state, asked or move.actor_id, asked))
        found: list[PendingApproval] = []
        for step_id, environment, state, shown, requester in waiting:
            step = self.runbook.step(step_id)
            if step is None or state not in WAITING_STATES:
                continue
            who = names.get(shown, shown) if shown else None
            if state == StepState.APPROVED.value:
                found.append(PendingApproval(step.id, step.title, environment, "someone to run it", who, approved=True))
                continue
            votes = await self.bot.store.approvals(run.id, step.id, environment)
            at = history.at if history is not None else None
            standing = [v for v in votes if (v.active if at is None else _vote_stood(v, at))]
            needs = self._missing(step, environment, standing, requester)
            found.append(PendingApproval(step.id, step.title, environment, needs, who))
        return found

    def _missing(self, step: Step, environment: str, votes: Sequence[Approval], requester: str | None) -> str:
        """What a lane still needs, given its standing votes; in production the requester's own never counts."""
        rollout = self.bot.rollout
        production = rollout.is_production(environment)
        counted = [v for v in votes if v.decision == "approved" and not (production and v.user_id == requester)]
        missing = []
        for need in rollout.approval_needs(step, environment):
            users = {v.user_id for v in counted if need.role in (approvals.ANY_APPROVER, v.role)}
            if len(users) < need.count:
                missing.append(approvals.Need(need.role, need.count - len(users)).describe())
        return ", ".join(missing) or "a fresh look at its plan"

    async def unticked(self, run: Run, days: Iterable[int], history: History | None = None) -> list[UntickedItem]:
        """Checklist items neither ticked nor waived, of the days' steps that work has started on
        (now, or as they stood at ``history.at``).

        A step nobody has asked for yet is not blocked by its checklist; it shows in the plan instead.
        """
        if history is None:
            lanes = {(lane.step_id, lane.environment): lane.state.value for lane in await self.bot.store.lanes(run.id)}
        else:
            lanes = {key: move.state for key, move in history.lanes().items()}
        found: list[UntickedItem] = []
        for number in days:
            day = self.runbook.day(number)
            for step in day.steps if day else []:
                if not step.checklist_items():
                    continue
                states = [lanes[(step.id, env)] for env in step.environments if (step.id, env) in lanes]
                if all(s in (StepState.PENDING.value, StepState.SKIPPED.value) for s in states):
                    continue
                ticks = await self.bot.store.ticks(run.id, step.id)
                waivers: Sequence[Waiver] = await self.bot.store.waivers(run.id, step.id)
                if history is None:
                    ticked = {t.item_id for t in ticks}
                else:
                    ticked = set(history.ticked(step.id, ticks))
                    waivers = [w for w in waivers if w.at <= history.at]
                if any(w.item_id is None for w in waivers):
                    continue
                waived = {w.item_id for w in waivers}
                found += [
                    UntickedItem(step.id, item.id, item.text)
                    for item in step.checklist_items()
                    if item.id not in ticked and item.id not in waived
                ]
        return found


def alert_state_at(alert: AlertRecord, at: datetime) -> str:
    """An alert's state at ``at`` from the times it was held and acknowledged; "open" before either."""
    for state, key in (("held", "held_at"), ("acknowledged", "acknowledged_at")):
        stamp = _stamp(alert.data.get(key))
        if stamp is not None and stamp <= at:
            return state
    return "open"


def _stamp(value: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _vote_stood(vote: Approval, at: datetime) -> bool:
    """Given by ``at`` and not withdrawn by then."""
    return vote.at <= at and (vote.withdrawn_at is None or vote.withdrawn_at > at)
