"""Everything `ionbot serve` checks before it runs, gathered into one list of sentences.

Configuration (every invalid or missing variable), the runbook (every problem of the file), the
database (reachable, writable, not a lost SQLite store) and a team's report templates are all
checked even when an earlier one failed, so one start says everything that must be fixed; the
process then exits with 2 and prints the list, never a traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from bot.runbook.models import Runbook

EXIT_CANNOT_START = 2
SHOWN_RUNBOOK_PROBLEMS = 20


class StartupProblems(Exception):
    """`ionbot serve` cannot start; ``problems`` are the sentences, one per thing to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(render(problems))
        self.problems = problems


def render(problems: list[str]) -> str:
    lines = [f"ionbot serve cannot start; fix {'this' if len(problems) == 1 else 'these'} and start it again:"]
    lines += [f"  - {problem}" for problem in problems]
    return "\n".join(lines)


def runbook_problems(settings: Settings) -> tuple[Runbook | None, list[str]]:
    """The loaded runbook, or the sentences saying why it cannot be loaded."""
    from bot.runbook.loader import inspect_runbook

    try:
        runbook, problems = inspect_runbook(settings.runbook)
    except Exception as error:  # any failure is a sentence, never a traceback
        return None, [f"ION_RUNBOOK: cannot load the runbook {settings.runbook}: {type(error).__name__}: {error}"]
    if not problems and runbook is not None:
        return runbook, []
    shown = [f"ION_RUNBOOK: cannot load the runbook {settings.runbook}: {p}" for p in problems]
    if len(shown) > SHOWN_RUNBOOK_PROBLEMS:
        more = len(shown) - SHOWN_RUNBOOK_PROBLEMS
        shown = [*shown[:SHOWN_RUNBOOK_PROBLEMS], f"ION_RUNBOOK: and {more} more; `ionbot check` lists them all"]
    return None, shown or [f"ION_RUNBOOK: cannot load the runbook {settings.runbook}"]


async def startup_problems(settings: Settings, *, new_store: bool) -> tuple[Runbook | None, list[str]]:
    """The runbook's and the database's problems (configuration is read before: bot/config.py)."""
    from bot.store.preflight import database_problems

    runbook, problems = runbook_problems(settings)
    problems += await database_problems(settings.database_url, new_store=new_store)
    return runbook, problems + team_template_problems(settings)


def team_template_problems(settings: Settings) -> list[str]:
    """A team's own report templates (ION_TEMPLATES_DIR), each rendered once with a sample. The
    packaged ones are checked by the tests, so a start without a team directory loads no Jinja."""
    if settings.templates_dir is None:
        return []
    from bot.reports.template_check import validate_templates

    return [f"ION_TEMPLATES_DIR: {p}" for p in validate_templates(settings.templates_dir)]
