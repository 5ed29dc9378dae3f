"""Realised cost from the Cloud Billing export to BigQuery (google-cloud-bigquery).

With ``ION_BILLING_EXPORT=project.dataset.table`` (the standard usage cost export table) the reports
read each service's cost from the export instead of bills typed with `/ion cost`: the net cost
(cost plus credits) of the ``WINDOW`` before the report time, scaled to a 30-day month, per
``service.description``. An export service counts for the runbook's cost target whose name matches
loosely ("Cloud Run" = "cloud-run"); others are left out. The client is synchronous (REST), so it
runs in a worker thread; ``ION_BILLING_API_URL`` points it at a local facade (tests) with anonymous
credentials.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.engine.cost_ledger import CostEntry
from bot.runbook.models import Runbook, service_key

WINDOW = timedelta(days=7)
MONTH = timedelta(days=30)
SOURCE = "the Cloud Billing export"
_TABLE = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_]+\.[A-Za-z0-9_$]+$")

QUERY = """
SELECT service.description AS service,
       SUM(cost) + SUM(IFNULL((SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS net_cost
FROM `{table}`
WHERE usage_start_time >= @start AND usage_start_time < @end
GROUP BY service
"""


def check_table(table: str) -> str:
    """``project.dataset.table`` or a sentence saying what is wrong."""
    if not _TABLE.match(table):
        raise ValueError(
            f"ION_BILLING_EXPORT {table!r} is not a BigQuery table; write it as project.dataset.table, "
            "e.g. ion-billing.billing.gcp_billing_export_v1_0123AB_456CDE_789EF0"
        )
    return table


@dataclass(frozen=True)
class BillingExport:
    """Reads monthly run rates per service from the export table."""

    table: str
    api_url: str | None = None

    def _client(self) -> Any:
        from google.cloud import bigquery

        project = self.table.split(".", 1)[0]
        if self.api_url:
            from google.auth.credentials import AnonymousCredentials

            return bigquery.Client(
                project=project,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options={"api_endpoint": self.api_url},
            )
        return bigquery.Client(project=project)

    def _query(self, start: datetime, end: datetime) -> list[tuple[str, float]]:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
            ]
        )
        rows = self._client().query_and_wait(QUERY.format(table=check_table(self.table)), job_config=config)
        return [(str(row["service"]), float(row["net_cost"] or 0.0)) for row in rows]

    async def bills(self, runbook: Runbook, at: datetime) -> list[CostEntry]:
        """One entry per budgeted service the export names: its monthly run rate up to ``at``."""
        rows = await asyncio.to_thread(self._query, at - WINDOW, at)
        budgeted = {service_key(t.service): t.service for t in runbook.targets.cost}
        totals: dict[str, float] = {}
        for service, cost in rows:
            name = budgeted.get(service_key(service))
            if name is not None:
                totals[name] = totals.get(name, 0.0) + cost
        scale = MONTH / WINDOW
        return [CostEntry(name, round(total * scale, 2), at, "billing export") for name, total in totals.items()]
