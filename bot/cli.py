"""``ionbot``: the command line. Each subcommand registers itself in one small function.

To add a command (serve, console, simulate, audit, db), write ``register_x(commands)`` that
adds a parser and sets ``handler`` to a function ``(args) -> int``, and list it in ``registrars()``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from functools import partial

from bot.serve_cli import register_serve

Handler = Callable[[argparse.Namespace], int]
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def registrars() -> list[Registrar]:
    """Every subcommand. Their modules are imported here, not at module level: ``ionbot serve``
    (what a container starts) registers only itself and skips pydantic's runbook models, YAML,
    the console and the simulator."""
    from bot.bootstrap_console import ConsoleSession
    from bot.cli_admin import register_audit, register_db
    from bot.cli_backtest import register_backtest
    from bot.cli_runbook import register_check, register_list, register_schema, register_show
    from bot.console.runner import register_console
    from bot.simulate.cli import register_simulate

    return [
        partial(register_console, open_session=ConsoleSession),
        register_simulate,
        register_check,
        register_list,
        register_show,
        register_schema,
        register_audit,
        register_db,
        register_serve,
        register_backtest,
    ]


def build_parser(only: Registrar | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ionbot", description="ION rollout bot")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in [only] if only is not None else registrars():
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ionbot`` and ``python -m bot``; returns the exit code."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    # `serve` is what a container starts: it skips importing the other commands' modules.
    parser = build_parser(register_serve if arguments[:1] == ["serve"] else None)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:  # argparse exits on --help and on usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)
