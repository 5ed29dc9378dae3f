"""`ionbot serve`: the production entry point (Slack over HTTP or Socket Mode).

Only light modules are imported here: the server binds its port first and imports the heavy
parts (SQLAlchemy, alembic, the cloud clients, Bolt) while /healthz already answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import TYPE_CHECKING

from bot.config import ConfigError, missing_for_serve, secret_values, settings_and_problems
from bot.logs import configure_logging
from bot.serve_checks import EXIT_CANNOT_START, StartupProblems, render

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.runbook.models import Runbook
    from bot.slack.server import Served


def register_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the bot for Slack (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    parser.add_argument(
        "--new-store",
        action="store_true",
        help="start on a new, empty SQLite store where one was before (it was lost, and you mean to start afresh)",
    )
    parser.set_defaults(handler=run_serve)


async def _build_served(settings: Settings, runbook: Runbook | None, socket_mode: bool) -> Served:
    """The composition root's serve builder, imported only once the port is bound (it is heavy)."""
    from bot.bootstrap import served_builder

    served: Served = await served_builder()(settings, runbook, socket_mode)
    return served


def run_serve(args: argparse.Namespace) -> int:
    """Exit 2 with every start-up problem listed (configuration, runbook, database), never a traceback."""
    new_store = bool(getattr(args, "new_store", False))
    settings, problems = settings_and_problems()
    problems += missing_for_serve(settings)
    if problems:  # the port is not bound: check the rest too, so the list is whole
        from bot.serve_checks import startup_problems

        problems += asyncio.run(startup_problems(settings, new_store=new_store))[1]
        print(render(problems), file=sys.stderr)
        return EXIT_CANNOT_START
    configure_logging(settings.log_format, settings.log_level, secrets=secret_values(settings))
    from bot.heap import collector_paused

    try:
        # Collected once the bot has settled (bot/heap.py): collections while starting cost a sixth of it.
        with contextlib.suppress(KeyboardInterrupt), collector_paused():
            from bot.slack.server import serve

            asyncio.run(serve(settings, build=_build_served, new_store=new_store))
    except StartupProblems as exc:
        print(exc, file=sys.stderr)
        return EXIT_CANNOT_START
    except ConfigError as exc:
        print(render([str(exc)]), file=sys.stderr)
        return EXIT_CANNOT_START
    except Exception as exc:
        # The schema check needs SQLAlchemy; it is loaded only once the port is bound.
        from bot.store.schema import SchemaBehind

        if not isinstance(exc, SchemaBehind):
            raise
        print(exc, file=sys.stderr)
        return 1
    return 0
