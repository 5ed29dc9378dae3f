"""sql.benchmark: day 1.4's query benchmark, mean and P95 in ms against the acceptance thresholds.

The queries run read-only (a benchmark must not change data); the timer is a parameter so tests
judge thresholds on known figures instead of on this machine's speed.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from bot.actions.base import ActionDeps, Binding, ReadOnlyAction
from bot.actions.sql_query import database_engine, database_refused, database_target, first_line
from bot.cloud.sql_target import begin_read_only, end_read_only, for_dialect
from bot.engine.ports import Outcome, ProgressCallback
from bot.runbook.models import SqlBenchmark

Timer = Callable[[], float]


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(0.95 * len(ordered))) - 1]


class SqlBenchmarkAction(ReadOnlyAction):
    """Runs every query ``repeat`` times on one connection and judges mean and P95."""

    def __init__(self, spec: SqlBenchmark, binding: Binding, deps: ActionDeps, timer: Timer) -> None:
        self.spec = spec
        self.environment = binding.environment
        self.deps = deps
        self.timer = timer
        super().__init__(database_target(binding.environment))

    def limits(self) -> str:
        parts = []
        if self.spec.max_mean_ms is not None:
            parts.append(f"mean < {self.spec.max_mean_ms:g} ms")
        if self.spec.max_p95_ms is not None:
            parts.append(f"P95 < {self.spec.max_p95_ms:g} ms")
        return " and ".join(parts) or "no thresholds (report only)"

    def describe(self) -> str:
        database = self.environment.database or "(no database)"
        return (
            f"Benchmark {len(self.spec.queries)} queries x {self.spec.repeat} on "
            f"{database} ({self.environment.name}); pass if {self.limits()}"
        )

    async def run(self, progress: ProgressCallback) -> Outcome:
        database, engine = database_engine(self.environment, self.deps)
        spec = self.spec
        await progress(f"benchmark: {len(spec.queries) * spec.repeat} query runs on {database}")
        timings: dict[str, list[float]] = {query: [] for query in spec.queries}
        try:
            async with engine.connect() as conn:
                await begin_read_only(conn)
                try:
                    for _ in range(spec.repeat):
                        for query in spec.queries:
                            sql = for_dialect(query, conn.dialect.name)
                            started = self.timer()
                            result = await conn.exec_driver_sql(sql)
                            if result.returns_rows:
                                result.fetchall()
                            timings[query].append((self.timer() - started) * 1000.0)
                finally:
                    await end_read_only(conn)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, "a benchmark query", "nothing was changed") from None
        every = [ms for values in timings.values() for ms in values]
        mean, worst = statistics.fmean(every), p95(every)
        failures = []
        if spec.max_mean_ms is not None and mean >= spec.max_mean_ms:
            failures.append(f"mean {mean:.2f} ms is not below {spec.max_mean_ms:g} ms")
        if spec.max_p95_ms is not None and worst >= spec.max_p95_ms:
            failures.append(f"P95 {worst:.2f} ms is not below {spec.max_p95_ms:g} ms")
        data = {
            "database": database,
            "runs": len(every),
            "mean_ms": round(mean, 3),
            "p95_ms": round(worst, 3),
            "max_mean_ms": spec.max_mean_ms,
            "max_p95_ms": spec.max_p95_ms,
            "queries": [
                {"sql": first_line(q), "mean_ms": round(statistics.fmean(v), 3), "p95_ms": round(p95(v), 3)}
                for q, v in timings.items()
            ],
        }
        figures = f"{len(every)} runs, mean {mean:.2f} ms, P95 {worst:.2f} ms"
        if failures:
            message = f"benchmark failed on {database}: {'; '.join(failures)} ({figures}; limits: {self.limits()})"
            return Outcome(ok=False, changed=False, message=message, data=data)
        message = f"benchmark passed on {database}: {figures} (limits: {self.limits()})"
        return Outcome(ok=True, changed=False, message=message, data=data)


def build(
    spec: SqlBenchmark, binding: Binding, deps: ActionDeps, timer: Timer = time.perf_counter
) -> SqlBenchmarkAction:
    return SqlBenchmarkAction(spec, binding, deps, timer)
