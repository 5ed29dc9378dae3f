"""Issue 15, the database engine: week17 states engine: mysql, so its Day 1 SQL (the guide's MySQL) runs
on MySQL (MariaDB) as written, on the sim's SQLite application database through the translation, and is
refused on a PostgreSQL target with a sentence naming both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actions.registry import default_registry
from bot.cloud.sql_target import SqlTargets, engine_mismatch, for_dialect
from bot.engine.ports import ActionFailed
from bot.runbook.loader import load_runbook

from .conftest import Progress, make_deps

WEEK17 = load_runbook(Path(__file__).resolve().parents[2] / "runbooks" / "week17.yaml")


def day1_actions(sql_targets: SqlTargets) -> list[object]:
    production = WEEK17.environment("production")
    assert production is not None and production.engine == "mysql"
    registry = default_registry(make_deps(sql=sql_targets), kinds=["sql.query", "sql.execute"])
    actions = []
    for step_id in ("day1.1", "day1.2"):
        step = WEEK17.step(step_id)
        assert step is not None
        actions += [registry.build(a, WEEK17, production) for a in step.actions if a.kind.startswith("sql.")]
    return actions


async def test_the_guides_mysql_runs_on_mysql_and_sqlite_and_is_refused_on_postgresql(
    app_engine: AsyncEngine, progress: Progress
) -> None:
    targets = SqlTargets(engines={"ion-primary-db": app_engine, "ion-staging-db": app_engine})
    query, *indexes = day1_actions(targets)
    [target] = query.targets()  # type: ignore[attr-defined]
    if app_engine.dialect.name == "postgresql":
        with pytest.raises(ActionFailed, match=r"written for mysql \(its engine\), but ion-primary-db is a postgresql"):
            await query.apply(target, None, progress)  # type: ignore[attr-defined]
        return
    slow = await query.apply(target, None, progress)  # type: ignore[attr-defined]
    assert slow.ok, slow.message
    assert slow.data["columns"] == ["query", "execution_time_ms", "frequency"]
    for action in indexes:
        [target] = action.targets()  # type: ignore[attr-defined]
        snapshot = await action.snapshot(target)  # type: ignore[attr-defined]
        assert (await action.apply(target, snapshot, progress)).changed  # type: ignore[attr-defined]
        verified = await action.verify(target)  # type: ignore[attr-defined]
        assert verified.ok, verified.message
    for action in reversed(indexes):
        [target] = action.targets()  # type: ignore[attr-defined]
        reverted = await action.revert(target, {"exists": False, "valid": False}, progress)  # type: ignore[attr-defined]
        assert reverted.ok and reverted.changed, reverted.message


def test_the_mysql_forms_translate_for_sqlite_and_postgresql() -> None:
    assert for_dialect("SELECT 1 WHERE t > NOW() - INTERVAL 7 DAY", "sqlite") == (
        "SELECT 1 WHERE t > datetime('now', '-7 days')"
    )
    assert for_dialect("DROP INDEX idx_a ON personas", "sqlite") == "DROP INDEX idx_a"
    assert for_dialect("DROP INDEX idx_a ON personas", "postgresql") == "DROP INDEX idx_a"
    assert for_dialect("DROP INDEX idx_a ON personas", "mysql") == "DROP INDEX idx_a ON personas"
    assert for_dialect("EXPLAIN SELECT * FROM personas", "sqlite") == "EXPLAIN QUERY PLAN SELECT * FROM personas"
    assert engine_mismatch("mysql", "mariadb", "db") is None
    assert engine_mismatch("mysql", "sqlite", "db") is None
    assert engine_mismatch(None, "postgresql", "db") is None
    assert engine_mismatch("postgresql", "mysql", "db") is not None
