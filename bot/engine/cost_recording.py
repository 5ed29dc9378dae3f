"""`/ion cost SERVICE AMOUNT`: a person records a service's monthly bill for the run's cost ledger.

A use case of the engine, not of the reports: it checks the service against the runbook's cost
targets and the amount, appends the bill where the ledger reads it (``bills_key``), writes the
audit row, and says what the bill means against the baseline and target. The reports only read
the bills back (bot/engine/cost_ledger.py builds the ledger from them).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Protocol

from bot.engine.audit import Auditor
from bot.engine.audit_kinds import AuditKind
from bot.engine.errors import Refused
from bot.engine.money import format_usd
from bot.engine.ports import JSON, Actor, Clock
from bot.engine.records import Run
from bot.engine.units import unit_of_work
from bot.runbook.models import CostTarget, Runbook, service_key
from bot.runbook.suggest import did_you_mean


def bills_key(run_id: str) -> str:
    """Where ``/ion cost`` appends a run's bills in the key-value store (a JSON list)."""
    return f"cost:bills:{run_id}"


class ChannelRuns(Protocol):
    """The run a command's channel is about (``Rollout.require_run``): refuses without one."""

    async def require_run(self, channel: str) -> Run: ...


class BillBook(Protocol):
    """Where bills are kept: appended to a JSON list, so two bills recorded at once are both kept."""

    async def append_value(self, key: str, item: JSON) -> object: ...


class CostRecording:
    """Records bills for the run of a channel; one per process."""

    def __init__(
        self, runbook: Callable[[], Runbook], clock: Clock, runs: ChannelRuns, bills: BillBook, auditor: Auditor
    ) -> None:
        """``runbook`` is read on every use: the bot's runbook may be replaced while the process runs."""
        self._runbook = runbook
        self.clock = clock
        self.runs = runs
        self.bills = bills
        self.auditor = auditor

    async def record_cost(self, channel: str, service: str, amount: object, actor: Actor) -> str:
        """Check everything first, then write the bill and its audit row: a refusal changes nothing."""
        run = await self.runs.require_run(channel)
        target = self.cost_target(service)
        usd = positive_usd(amount)
        bill: dict[str, JSON] = {
            "service": target.service,
            "monthly_usd": usd,
            "recorded_at": self.clock.now().isoformat(),
            "by": actor.name,
        }
        async with unit_of_work():  # the bill and its audit entry, or neither
            await self.bills.append_value(bills_key(run.id), bill)
            await self.auditor.record(
                actor, AuditKind.RECORD_COST, run_id=run.id, detail=f"{target.service} {format_usd(usd)}/month"
            )
        saved = format_usd(usd - target.current_usd)
        return (
            f"Recorded {target.service} at {format_usd(usd)}/month (by {actor.name}); baseline "
            f"{format_usd(target.current_usd)}, target {format_usd(target.target_usd)}, so {saved}/month realised. "
            "The next report's realised line shows it."
        )

    def cost_target(self, service: str) -> CostTarget:
        """The runbook's cost target for ``service`` (any spelling: "cloud-run" is "Cloud Run")."""
        targets = self._runbook().targets.cost
        match = next((t for t in targets if service_key(t.service) == service_key(service)), None)
        if match is not None:
            return match
        names = [t.service.lower().replace(" ", "-") for t in targets]
        hint = did_you_mean(service.lower(), names) or "."
        raise Refused(
            f"There is no service {service!r} in the runbook's cost targets{hint} "
            f"The services are: {', '.join(names) or 'none'}. No cost was recorded."
        )


def positive_usd(amount: object) -> float:
    """A monthly amount in dollars from a Decimal, number or "$1,100.50"; refuses zero, negatives and junk."""
    try:
        value = Decimal(str(amount).strip().lstrip("$").replace(",", ""))
    except InvalidOperation:
        value = Decimal("NaN")
    usd = float(value)
    if not math.isfinite(usd) or usd <= 0:
        raise Refused(
            f"{amount!s} is not a monthly cost in dollars above zero; write it like 950 or $1,100.50. "
            "No cost was recorded."
        )
    return usd
