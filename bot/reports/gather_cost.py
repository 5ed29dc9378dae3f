"""The report's cost ledger: expected savings from the lanes' moves, realised savings from the
billing export when one is configured, else from the bills people recorded (``/ion cost``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import structlog

from bot.cloud.billing_export import SOURCE as BILLING_SOURCE
from bot.cloud.billing_export import BillingExport
from bot.engine.cost_ledger import CostEntry, CostLedger, build_cost_ledger
from bot.engine.cost_recording import bills_key
from bot.reports.history import LaneMove
from bot.runbook.models import Runbook

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)


class CostGatherer:
    """Reads one run's bills (the export's or the recorded ones) into its cost ledger."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.runbook: Runbook = bot.runbook
        self.zone = ZoneInfo(bot.runbook.calendar.timezone)

    async def bills(self, run_id: str) -> list[CostEntry]:
        stored = await self.bot.store.get_value(bills_key(run_id))
        entries: list[CostEntry] = []
        for raw in stored if isinstance(stored, list) else []:
            try:
                entries.append(
                    CostEntry(
                        str(raw["service"]),
                        float(raw["monthly_usd"]),
                        datetime.fromisoformat(str(raw["recorded_at"])).astimezone(self.zone),
                        str(raw.get("by", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                log.warning("unreadable bill skipped", run_id=run_id, bill=raw)
        return entries

    async def ledger(self, run_id: str, moves: Sequence[LaneMove], now: datetime) -> CostLedger:
        """Expected savings from the lanes; realised from the billing export when one is configured
        (an unreadable export says so in the log and falls back to the recorded bills), else the bills."""
        events = [m.event() for m in moves if m.at <= now]
        table = self.bot.settings.billing_export
        if table:
            try:
                export = BillingExport(table, self.bot.settings.billing_api_url)
                exported = await export.bills(self.runbook, now.astimezone(self.zone))
            except Exception as error:  # the report still goes out, with the typed bills
                log.warning("billing export unreadable", table=table, error=str(error))
            else:
                return build_cost_ledger(self.runbook, events, exported, BILLING_SOURCE)
        bills = [b for b in await self.bills(run_id) if b.recorded_at <= now]
        return build_cost_ledger(self.runbook, events, bills)
