"""`ionbot serve`: the production entry point (Slack over HTTP or Socket Mode).

Only light modules are imported here: the server binds its port first and imports the heavy
parts (SQLAlchemy, alembic, the cloud clients, Bolt) while /healthz already answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys

from bot.config import ConfigError, load_settings, secret_values
from bot.logs import configure_logging


def register_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("serve", help="run the bot for Slack (HTTP, or Socket Mode with SLACK_APP_TOKEN)")
    parser.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_format, settings.log_level, secrets=secret_values(settings))
    from bot.runbook.errors import RunbookError
    from bot.slack.server import serve

    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except RunbookError as exc:
        print(f"cannot load the runbook {settings.runbook}:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except Exception as exc:
        # The schema check needs SQLAlchemy; it is loaded only once the port is bound.
        from bot.store.schema import SchemaBehind

        if not isinstance(exc, SchemaBehind):
            raise
        print(exc, file=sys.stderr)
        return 1
    return 0
