"""sql.query: a read-only query against the environment's database (day 1.1's slow-query analysis).

Read-only is enforced by the database (a read-only transaction), not by guessing from the SQL text.
Also the database lookup and error wording shared by the other sql.* kinds.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actions.base import ActionDeps, Binding, ReadOnlyAction
from bot.cloud.sql_target import SqlTargetError, engine_mismatch, read_only_query
from bot.engine.ports import ActionFailed, Outcome, ProgressCallback, Target
from bot.runbook.models import Environment, SqlQuery


def database_target(environment: Environment) -> Target:
    name = environment.database or "(no database)"
    return Target(key=f"{environment.name}:{name}", label=f"{name} ({environment.name})")


def database_engine(environment: Environment, deps: ActionDeps) -> tuple[str, AsyncEngine]:
    """The environment's database name and engine; an ActionFailed sentence when either is missing."""
    if environment.database is None:
        raise ActionFailed(
            f"{environment.name} has no database, so this SQL action cannot run and nothing was changed; "
            "set the environment's database in the runbook."
        )
    try:
        engine = deps.sql.engine(environment.database)
    except SqlTargetError as exc:
        raise ActionFailed(f"{exc}. Nothing was changed.") from None
    mismatch = engine_mismatch(environment.engine, engine.dialect.name, environment.database)
    if mismatch is not None:
        raise ActionFailed(mismatch + ".")
    return environment.database, engine


def database_refused(database: str, exc: SQLAlchemyError, what: str, consequence: str) -> ActionFailed:
    """One sentence for a database error: what was refused, the driver's first line, what (not) happened."""
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    reason = (str(original).strip().splitlines() or [type(original).__name__])[0].rstrip(".")
    return ActionFailed(f"{database} refused {what}: {reason}; {consequence}.")


def first_line(sql: str, limit: int = 80) -> str:
    text = " ".join(sql.split()).rstrip(";").rstrip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class SqlQueryAction(ReadOnlyAction):
    """Runs the query read-only, shows up to ``row_cap`` rows and checks ``expect`` appears."""

    def __init__(self, spec: SqlQuery, binding: Binding, deps: ActionDeps) -> None:
        self.spec = spec
        self.environment = binding.environment
        self.deps = deps
        super().__init__(database_target(binding.environment))

    def describe(self) -> str:
        expect = f"; expect {self.spec.expect!r} in the result" if self.spec.expect else ""
        return (
            f"Query {self.environment.database or '(no database)'} ({self.environment.name}) read-only, "
            f"up to {self.spec.row_cap} rows: {first_line(self.spec.sql)}{expect}"
        )

    async def run(self, progress: ProgressCallback) -> Outcome:
        database, engine = database_engine(self.environment, self.deps)
        try:
            result = await read_only_query(engine, self.spec.sql, self.spec.row_cap)
        except SQLAlchemyError as exc:
            raise database_refused(database, exc, "the read-only query", "nothing was changed") from None
        except SqlTargetError as exc:
            raise ActionFailed(f"{exc}; nothing was run.") from None
        count = f"{len(result.rows)}{'+' if result.truncated else ''} rows"
        data = {
            "database": database,
            "columns": list(result.columns),
            "rows": [[_json_cell(c) for c in row] for row in result.rows],
            "row_count": len(result.rows),
            "truncated": result.truncated,
        }
        expect = self.spec.expect
        if expect is not None and expect.lower() not in result.text().lower():
            message = f"query on {database}: {count}, and {expect!r} is not in the result\n{result.table()}"
            return Outcome(ok=False, changed=False, message=message, data={**data, "expect": expect})
        found = f", {expect!r} found" if expect else ""
        message = f"query on {database}: {count}{found}\n{result.table()}"
        return Outcome(ok=True, changed=False, message=message, data=data)


def _json_cell(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def build(spec: SqlQuery, binding: Binding, deps: ActionDeps) -> SqlQueryAction:
    return SqlQueryAction(spec, binding, deps)
