"""Go/No-Go gates: live health checks, manual section ticks, a YES/NO decision and sign-offs.

YES is allowed only when every health check passed (or a person overrode it with a reason)
and every section item is ticked: the gate is the team's evidence, not a formality.

People and the bot change one gate at once (a health re-check while someone decides or signs off),
so every change re-reads the record and compare-and-sets it (``_save``) instead of writing it blind.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.engine import checklist, gate_evidence
from bot.engine.audit_kinds import AuditKind
from bot.engine.checklist import ChecklistStatus
from bot.engine.context import Context
from bot.engine.errors import Refused
from bot.engine.gate_evidence import Evidence
from bot.engine.ports import Actor
from bot.engine.records import GateRecord, HealthResult, Run, SignOff
from bot.runbook.models import ChecklistItem, Gate
from bot.runbook.suggest import did_you_mean

GATE_ENVIRONMENT = "production"


@dataclass(frozen=True)
class GateView:
    gate: Gate
    record: GateRecord
    sections: ChecklistStatus

    @property
    def blockers(self) -> list[str]:
        """What stands between the gate and a YES, one sentence each."""
        found: list[str] = []
        results = {h.label: h for h in self.record.health}
        for check in self.gate.health_checks:
            result = results.get(check.label)
            if result is None:
                found.append(f"health check '{check.label}' has not been run")
            elif result.passed is not True and not result.override_reason:
                state = "unknown (no data)" if result.passed is None else "failing"
                found.append(f"health check '{check.label}' is {state}: {result.detail}")
        found.extend(f"'{item.text}' is not ticked" for item in self.sections.missing)
        return found


def gate_items(gate: Gate) -> list[ChecklistItem]:
    return [item for section in gate.sections for item in section.items]


def find_gate(ctx: Context, gate_id: str) -> Gate:
    gate = ctx.runbook.gate(gate_id)
    if gate is None:
        raise Refused(f"no gate {gate_id}{did_you_mean(gate_id, [g.id for g in ctx.runbook.gates])}.")
    return gate


async def view(ctx: Context, run: Run, gate: Gate) -> GateView:
    record = await ctx.store.get_gate(run.id, gate.id) or GateRecord(run_id=run.id, gate_id=gate.id)
    sections = await checklist.status(ctx, run.id, gate.id, gate_items(gate))
    return GateView(gate, record, sections)


SAVE_ATTEMPTS = 10


async def _save(
    ctx: Context, run: Run, gate: Gate, change: Callable[[GateView], GateRecord]
) -> tuple[GateRecord, GateRecord]:
    """Read the gate, apply ``change`` and compare-and-set the result; on a lost race read again.

    ``change`` runs on the fresh view each time (and may refuse), so what it checks holds against
    what is stored, and nobody's concurrent decision, health results or sign-off is overwritten.
    Returns the record as it was read and as it was saved.
    """
    for _ in range(SAVE_ATTEMPTS):
        current = await view(ctx, run, gate)
        record = change(current)
        if await ctx.store.save_gate(record):
            return current.record, record
    raise Refused(
        f"{gate.id} kept changing while this was being saved ({SAVE_ATTEMPTS} tries); "
        "look at the card again and retry. Nothing was changed."
    )


async def check_health(ctx: Context, run: Run, gate: Gate, actor: Actor) -> GateView:
    """Measure every health check now; earlier overrides survive only for checks still not passing.

    The measurements are merged into the record as it is after them, so a decision or sign-off
    saved while the metrics were being read is kept.
    """
    env = ctx.runbook.environment(GATE_ENVIRONMENT) or ctx.runbook.environments[-1]
    now = ctx.clock.now()
    measured: list[tuple[str, Evidence]] = []
    for check in gate.health_checks:
        measured.append((check.label, await gate_evidence.measure(ctx, run, gate, check, env)))

    def merged(current: GateView) -> GateRecord:
        previous = {h.label: h for h in current.record.health}
        results: list[HealthResult] = []
        for label, evidence in measured:
            result = evidence.result
            old = previous.get(label)
            keep = old is not None and result.passed is not True and old.override_reason
            results.append(
                HealthResult(
                    label=label,
                    condition=result.condition,
                    passed=result.passed,
                    value=result.value,
                    threshold=result.threshold,
                    detail=result.detail,
                    checked_at=now,
                    override_by=old.override_by if keep and old else None,
                    override_reason=old.override_reason if keep and old else None,
                    counted=[c.as_json() for c in evidence.counted],
                )
            )
        return replace(current.record, health=results)

    async with ctx.unit_of_work():  # after the measurements: no metric read inside
        _, record = await _save(ctx, run, gate, merged)
        shown = "; ".join(f"{r.label}: {_verdict(r.passed)}" for r in record.health)
        await ctx.auditor.record(actor, AuditKind.GATE_HEALTH_CHECKED, run_id=run.id, step_id=gate.id, detail=shown)
    return await view(ctx, run, gate)


def _verdict(passed: bool | None) -> str:
    return {True: "pass", False: "FAIL", None: "unknown"}[passed]


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def resolve_check(gate: Gate, word: str) -> str:
    """The label of the health check ``word`` names: its number on the card (1..n), its label, or a
    unique start of the label's words joined by '-' ("no-production" for "No production incidents")."""
    labels = [check.label for check in gate.health_checks]
    if not labels:
        raise Refused(f"{gate.id} has no health checks to override. Nothing was changed.")
    if word.isdigit() and 1 <= int(word) <= len(labels):
        return labels[int(word) - 1]
    wanted = _slug(word)
    exact = [label for label in labels if _slug(label) == wanted or label == word]
    found = exact or [label for label in labels if wanted and _slug(label).startswith(wanted)]
    if len(found) == 1:
        return found[0]
    numbered = "; ".join(f"{n} = {label}" for n, label in enumerate(labels, 1))
    which = "matches several" if found else "matches none"
    raise Refused(
        f"'{word}' {which} of the health checks of {gate.id}; name one by its number: {numbered}. Nothing was changed."
    )


async def override(ctx: Context, run: Run, gate: Gate, label: str, reason: str, actor: Actor) -> GateView:
    if not reason.strip():
        raise Refused("Overriding a health check needs a reason. Nothing was changed.")

    def overridden(current: GateView) -> GateRecord:
        labels = [h.label for h in current.record.health]
        if label not in labels:
            raise Refused(
                f"{gate.id} has no measured health check '{label}'{did_you_mean(label, labels)}; "
                "run the health checks first (Re-check on the card). Nothing was changed."
            )
        if current.record.decision is not None:
            raise Refused(f"{gate.id} is already decided {current.record.decision.upper()}; nothing was changed.")
        if next(h for h in current.record.health if h.label == label).passed is True:
            raise Refused(f"'{label}' of {gate.id} passes; there is nothing to override. Nothing was changed.")
        health = [
            replace(h, override_by=actor.name, override_reason=reason) if h.label == label else h
            for h in current.record.health
        ]
        return replace(current.record, health=health)

    async with ctx.unit_of_work():  # the override, its audit entry and its announcement
        _, record = await _save(ctx, run, gate, overridden)
        await ctx.auditor.record(
            actor, AuditKind.GATE_CHECK_OVERRIDDEN, run_id=run.id, step_id=gate.id, after=label, detail=reason
        )
        was = next(h for h in record.health if h.label == label)
        await ctx.emit(
            run,
            "gate_changed",
            f"{gate.title}: '{label}' ({was.detail}) overridden by {actor.name}: {reason}",
            data={"gate": gate.id},
        )
    return await view(ctx, run, gate)


async def _stale(ctx: Context, run: Run, gate: Gate) -> str | None:
    """Why the stored ``counts`` results are too old for a YES (something they count happened after
    they were measured), or None."""
    counted = {check.label for check in gate.health_checks if check.counts is not None}
    record = await ctx.store.get_gate(run.id, gate.id)
    measured = [h.checked_at for h in (record.health if record else []) if h.label in counted]
    if not counted or not measured:
        return None
    newest = await gate_evidence.newest_event(ctx, run, gate)
    if newest is None or newest[0] <= min(measured):
        return None
    return (
        f"{gate.id} cannot be decided YES on health checks measured at {ctx.show_time(min(measured))}: "
        f"{newest[1]} came after them (at {ctx.show_time(newest[0])}). Nothing was decided; press Re-check "
        f"on the card (or /ion gonogo {gate.id}) and decide on what it shows."
    )


async def decide(ctx: Context, run: Run, gate: Gate, yes: bool, reason: str | None, actor: Actor) -> GateView:
    stale = await _stale(ctx, run, gate) if yes else None
    if stale is not None:
        raise Refused(stale)

    def decided(current: GateView) -> GateRecord:
        if current.record.decision is not None:
            raise Refused(
                f"{gate.id} was already decided {current.record.decision.upper()} "
                f"by {current.record.decided_by_name}; "
                "nothing was changed."
            )
        if yes and current.blockers:
            raise Refused(
                f"{gate.id} cannot be decided YES yet: "
                + "; ".join(current.blockers)
                + f". Nothing was decided; tick the items, press Re-check on the card (or /ion gonogo {gate.id}), "
                f"or, as a lead or the manager, override a check with /ion override {gate.id} CHECK REASON."
            )
        if not yes and not (reason and reason.strip()):
            raise Refused(f"Deciding {gate.id} NO needs a reason, so the team knows what to fix. Nothing was decided.")
        return replace(
            current.record,
            decision="yes" if yes else "no",
            decided_by=actor.user_id,
            decided_by_name=actor.name,
            decided_at=ctx.clock.now(),
            reason=reason,
        )

    async with ctx.unit_of_work():
        _, record = await _save(ctx, run, gate, decided)
        await ctx.auditor.record(
            actor,
            AuditKind.GATE_DECIDED,
            run_id=run.id,
            step_id=gate.id,
            before="undecided",
            after=record.decision,
            detail=reason,
        )
        label = gate.yes_label if yes else gate.no_label
        await ctx.emit(run, "gate_changed", f"{gate.title}: {label} (decided by {actor.name}).", data={"gate": gate.id})
    return await view(ctx, run, gate)


async def reopen(ctx: Context, run: Run, gate: Gate, reason: str, actor: Actor) -> GateView:
    """Take back a NO, so that the gate can be decided again once the team has fixed what it said.

    Cleared: the decision; the sign-offs, which vouched for a decision that no longer stands; and
    the health results with their overrides, because the NO said the evidence of that moment was
    not good enough, so a new YES must stand on fresh measurements (and overrides given anew).
    Kept: the section ticks, which record preparation people did rather than a moment's reading;
    anyone can untick an item that is no longer true.

    A YES is never reopened: the steps it unlocked may already have run on it. To stop after a
    YES, pause the run or roll a step back.
    """
    if not reason.strip():
        raise Refused(f"Reopening {gate.id} needs a reason, so the team knows what changed. Nothing was changed.")

    def reopened(current: GateView) -> GateRecord:
        record = current.record
        if record.decision is None:
            raise Refused(f"{gate.id} has not been decided, so there is nothing to reopen; nothing was changed.")
        if record.decision == "yes":
            raise Refused(
                f"{gate.id} was decided YES by {record.decided_by_name}, and a YES cannot be reopened: the steps "
                "it unlocked may already have run. Pause the run or roll a step back instead; nothing was changed."
            )
        return replace(
            record,
            health=[],
            decision=None,
            decided_by=None,
            decided_by_name=None,
            decided_at=None,
            reason=None,
            signoffs=[],
        )

    async with ctx.unit_of_work():
        before, _ = await _save(ctx, run, gate, reopened)
        await ctx.auditor.record(
            actor,
            AuditKind.GATE_REOPENED,
            run_id=run.id,
            step_id=gate.id,
            before=before.decision,
            after="undecided",
            detail=f"{reason} (was NO by {before.decided_by_name}: {before.reason})",
        )
        await ctx.emit(
            run,
            "gate_changed",
            f"{gate.title}: reopened by {actor.name} ({reason}). It needs fresh health checks, "
            "its sign-offs and a new decision.",
            data={"gate": gate.id},
        )
    return await view(ctx, run, gate)


async def sign_off(ctx: Context, run: Run, gate: Gate, role: str, actor: Actor) -> GateView:
    if role not in gate.signoffs:
        raise Refused(f"{gate.id} takes sign-offs from {', '.join(gate.signoffs) or 'nobody'}, not {role}.")
    if not actor.has(role):
        raise Refused(f"{actor.name} cannot sign off {gate.id} as {role}: {actor.name} does not have that role.")

    def signed(current: GateView) -> GateRecord:
        if any(s.role == role for s in current.record.signoffs):
            raise Refused(f"{gate.id} already has a {role} sign-off; nothing was changed.")
        signoffs = [*current.record.signoffs, SignOff(role, actor.user_id, actor.name, ctx.clock.now())]
        return replace(current.record, signoffs=signoffs)

    async with ctx.unit_of_work():
        await _save(ctx, run, gate, signed)
        await ctx.auditor.record(actor, AuditKind.GATE_SIGNED_OFF, run_id=run.id, step_id=gate.id, after=role)
    return await view(ctx, run, gate)


async def undecided_blocking(ctx: Context, run: Run, day: int) -> list[Gate]:
    """Gates that must be YES before a step of ``day`` runs and are not (yet)."""
    blocking: list[Gate] = []
    for gate in ctx.runbook.gates_blocking(day):
        record = await ctx.store.get_gate(run.id, gate.id)
        if record is None or record.decision != "yes":
            blocking.append(gate)
    return blocking
