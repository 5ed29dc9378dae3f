"""What the rollout has saved so far, per service: planned, expected from the changes in force, and billed.

Pure: the lead feeds it lane events (a step's state in an environment over time) and the
bills people record with ``/ion cost SERVICE AMOUNT`` (or read from the billing export).
Two figures are kept apart on purpose: *expected* savings are the declared ``cost_impact``
of steps done (not in a dry run) in production, taken back on rollback; *realised* savings
are what the bills say (latest bill minus the baseline), and move only when a bill arrives.
Savings are negative dollars throughout (-$250 is a saving), like the runbook's table.

The baseline is the cost table of the runbook's targets (the seed's $2,300). The seed's
daily report template says "Cost: $2,460 -> $X"; that figure matches no table in the
guide, so the cost table is taken as the single source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.runbook.models import Runbook, service_key

REALISING_STATE = "done"


@dataclass(frozen=True)
class LaneEvent:
    """A step reached ``state`` in ``environment`` at ``at`` (a transition or a current state)."""

    step_id: str
    environment: str
    state: str
    at: datetime


@dataclass(frozen=True)
class CostEntry:
    """An actual monthly bill for a service, as recorded by a person (``/ion cost``)."""

    service: str
    monthly_usd: float
    recorded_at: datetime
    by: str = ""


@dataclass(frozen=True)
class RealisedImpact:
    step_id: str
    service: str
    monthly_usd: float
    since: datetime


@dataclass(frozen=True)
class ServiceCost:
    """One row of the cost table. ``baseline_usd``/``target_usd`` are None for a service the
    targets do not list (a step or a bill named it)."""

    service: str
    baseline_usd: float | None
    target_usd: float | None
    realised_savings_usd: float
    actual_usd: float | None
    actual_recorded_at: datetime | None

    @property
    def planned_savings_usd(self) -> float | None:
        if self.baseline_usd is None or self.target_usd is None:
            return None
        return self.target_usd - self.baseline_usd

    @property
    def realised_usd(self) -> float | None:
        """The baseline plus what finished production steps are expected to save."""
        if self.baseline_usd is None:
            return None
        return self.baseline_usd + self.realised_savings_usd

    @property
    def expected_savings_usd(self) -> float:
        """The declared savings of this service's changes in force (the old name says "realised")."""
        return self.realised_savings_usd

    @property
    def billed_savings_usd(self) -> float | None:
        """Latest bill minus the baseline: the saving the bills show; None without a bill or baseline."""
        if self.actual_usd is None or self.baseline_usd is None:
            return None
        return self.actual_usd - self.baseline_usd


@dataclass(frozen=True)
class CostLedger:
    services: tuple[ServiceCost, ...]
    realised: tuple[RealisedImpact, ...]
    overall_target_savings_usd: float | None
    savings_pct: float | None = None  # as the runbook states it (the seed's "16%")
    overall_by: str | None = None  # when the whole-programme target is due ("Week 18")
    bills_source: str = "recorded bills"  # or "the Cloud Billing export"

    @property
    def has_costs(self) -> bool:
        """False for a runbook without a cost table, cost impacts or bills: no cost line at all."""
        return bool(self.services)

    @property
    def expected_savings_usd(self) -> float:
        return self.realised_savings_usd

    @property
    def billed(self) -> tuple[ServiceCost, ...]:
        """Budgeted services with a bill: the ones the realised line can speak for."""
        return tuple(s for s in self.services if s.billed_savings_usd is not None)

    @property
    def unbilled(self) -> tuple[ServiceCost, ...]:
        return tuple(s for s in self.services if s.baseline_usd is not None and s.actual_usd is None)

    @property
    def billed_savings_usd(self) -> float | None:
        """What the bills show saved, over the billed services only; None before any bill."""
        billed = self.billed
        if not billed:
            return None
        return sum(s.billed_savings_usd for s in billed if s.billed_savings_usd is not None)

    @property
    def pct_text(self) -> str:
        """The target's share of the baseline: the runbook's own figure when it states one ("16%"),
        saying so when it differs from the arithmetic (400 of 2,300 is 17.4%)."""
        computed = self.computed_pct
        if self.savings_pct is None:
            return "" if computed is None else f"{computed:.1f}%".replace(".0%", "%")
        stated = f"{self.savings_pct:g}%"
        if computed is None or abs(computed - self.savings_pct) < 0.5:
            return stated
        return f"{stated} as the runbook states; {computed:.1f}% of ${self.baseline_usd:,.0f}"

    @property
    def computed_pct(self) -> float | None:
        """The planned saving as a share of the baseline (400 of 2,300 is 17.4 %)."""
        if not self.baseline_usd:
            return None
        return abs(self.planned_savings_usd) / self.baseline_usd * 100

    @property
    def baseline_usd(self) -> float:
        return sum(s.baseline_usd for s in self.services if s.baseline_usd is not None)

    @property
    def target_usd(self) -> float:
        return sum(s.target_usd for s in self.services if s.target_usd is not None)

    @property
    def planned_savings_usd(self) -> float:
        return self.target_usd - self.baseline_usd

    @property
    def realised_savings_usd(self) -> float:
        return sum(s.realised_savings_usd for s in self.services)

    @property
    def realised_usd(self) -> float:
        return self.baseline_usd + self.realised_savings_usd

    @property
    def actual_usd(self) -> float | None:
        """Sum of the latest bills, only when every budgeted service has one (a partial sum misleads)."""
        budgeted = [s for s in self.services if s.baseline_usd is not None]
        if not budgeted or any(s.actual_usd is None for s in budgeted):
            return None
        return sum(s.actual_usd for s in budgeted if s.actual_usd is not None)


def production_environments(runbook: Runbook) -> frozenset[str]:
    return frozenset(e.name for e in runbook.environments if e.production)


def realised_impacts(runbook: Runbook, events: Iterable[LaneEvent]) -> list[RealisedImpact]:
    """Steps whose latest production lane state is done, with the time it became done.

    A step counts once even when it has several production lanes (its impact is per step).
    """
    production = production_environments(runbook) or frozenset({"production"})
    latest: dict[tuple[str, str], LaneEvent] = {}
    for event in sorted(events, key=lambda e: e.at):
        if event.environment in production:
            latest[(event.step_id, event.environment)] = event
    done_since: dict[str, datetime] = {}
    for (step_id, _env), event in latest.items():
        if event.state == REALISING_STATE:
            previous = done_since.get(step_id)
            done_since[step_id] = event.at if previous is None else min(previous, event.at)
    impacts: list[RealisedImpact] = []
    for step in runbook.steps():
        if step.cost_impact is not None and step.id in done_since:
            impacts.append(
                RealisedImpact(step.id, step.cost_impact.service, step.cost_impact.monthly_usd, done_since[step.id])
            )
    return impacts


def build_cost_ledger(
    runbook: Runbook,
    events: Iterable[LaneEvent],
    bills: Sequence[CostEntry] = (),
    bills_source: str = "recorded bills",
) -> CostLedger:
    """The cost table now: the runbook's baseline and target per service, what is realised, what is billed."""
    budget: dict[str, tuple[float, float]] = {}
    names: dict[str, str] = {}
    for target in runbook.targets.cost:
        key = service_key(target.service)
        names[key] = target.service
        budget[key] = (target.current_usd, target.target_usd)
    impacts = realised_impacts(runbook, events)
    savings: dict[str, float] = {}
    for impact in impacts:
        key = service_key(impact.service)
        names.setdefault(key, impact.service)
        savings[key] = savings.get(key, 0.0) + impact.monthly_usd
    latest_bill: dict[str, CostEntry] = {}
    for bill in sorted(bills, key=lambda b: b.recorded_at):
        key = service_key(bill.service)
        names.setdefault(key, bill.service)
        latest_bill[key] = bill
    services: list[ServiceCost] = []
    for key, name in names.items():
        last_bill = latest_bill.get(key)
        planned = budget.get(key)
        services.append(
            ServiceCost(
                service=name,
                baseline_usd=planned[0] if planned else None,
                target_usd=planned[1] if planned else None,
                realised_savings_usd=savings.get(key, 0.0),
                actual_usd=last_bill.monthly_usd if last_bill is not None else None,
                actual_recorded_at=last_bill.recorded_at if last_bill is not None else None,
            )
        )
    return CostLedger(
        services=tuple(services),
        realised=tuple(impacts),
        overall_target_savings_usd=runbook.targets.overall_monthly_savings_usd,
        savings_pct=runbook.targets.savings_pct,
        overall_by=runbook.targets.overall_by,
        bills_source=bills_source,
    )
