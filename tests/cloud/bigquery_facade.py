"""A local BigQuery facade on 127.0.0.1: the one REST call ``query_and_wait`` makes (jobs.query).

It holds billing export rows (service, cost, credits, usage start) and answers the billing query
(bot/cloud/billing_export.py) for the ``@start``/``@end`` parameters it is sent: the net cost per
service of the rows in [start, end). It checks the table named in the SQL, so a query of another
table fails the way BigQuery does (404 notFound). It does not interpret other SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class ExportRow:
    service: str
    cost: float
    usage_start: datetime
    credits: float = 0.0  # negative, as the export writes them


@dataclass
class BillingTable:
    name: str
    rows: list[ExportRow] = field(default_factory=list)
    queries: list[dict[str, Any]] = field(default_factory=list)

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.queries.append(body)
        if f"`{self.name}`" not in str(body.get("query", "")):
            return 404, {"error": {"code": 404, "message": "Not found: Table", "errors": [{"reason": "notFound"}]}}
        params = {p["name"]: p["parameterValue"]["value"] for p in body.get("queryParameters", [])}
        start, end = (datetime.fromisoformat(str(params[k])) for k in ("start", "end"))
        totals: dict[str, float] = {}
        for row in self.rows:
            if start <= row.usage_start < end:
                totals[row.service] = totals.get(row.service, 0.0) + row.cost + row.credits
        rows = [{"f": [{"v": service}, {"v": repr(cost)}]} for service, cost in totals.items()]
        job = {"projectId": self.name.split(".")[0], "jobId": f"job{len(self.queries)}", "location": "US"}
        return 200, {
            "kind": "bigquery#queryResponse",
            "jobComplete": True,
            "jobReference": job,
            "schema": {"fields": [{"name": "service", "type": "STRING"}, {"name": "net_cost", "type": "FLOAT"}]},
            "rows": rows,
            "totalRows": str(len(rows)),
        }


@asynccontextmanager
async def bigquery_facade(table: BillingTable) -> AsyncIterator[str]:
    """Serve ``table`` on 127.0.0.1; yields the API URL to give the client (ION_BILLING_API_URL)."""

    async def query(request: web.Request) -> web.Response:
        status, payload = table.answer(await request.json())
        return web.json_response(payload, status=status)

    app = web.Application()
    app.router.add_post("/bigquery/v2/projects/{project}/queries", query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server = site._server
    assert server is not None
    port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
