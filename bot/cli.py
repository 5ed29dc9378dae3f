"""``ionbot``: the command line. Each subcommand registers itself in one small function.

To add a command (serve, console, simulate, audit, db), write ``register_x(commands)`` that
adds a parser and sets ``handler`` to a function ``(args) -> int``, and name it in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from bot.serve_cli import register_serve

Handler = Callable[[argparse.Namespace], int]
Registrar = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _register_console(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.bootstrap_console import ConsoleSession
    from bot.console.runner import register_console

    register_console(commands, open_session=ConsoleSession)


def _imported(module: str, name: str) -> Registrar:
    """``module.name``, a registrar, imported only when its command is registered."""

    def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
        getattr(importlib.import_module(module), name)(commands)

    return register


# Each command's registrar, its module imported only when that command is named (or all of them
# are listed): `ionbot check` skips SQLAlchemy, Bolt and the whole bot (1.05 s -> about 0.3 s), and
# `ionbot serve`, what a container starts, skips pydantic's runbook models, YAML, the console and
# the simulator. tests/runbook/test_cli.py holds each name to the command its registrar adds.
COMMANDS: dict[str, Registrar] = {
    "console": _register_console,
    "simulate": _imported("bot.simulate.cli", "register_simulate"),
    "check": _imported("bot.cli_runbook", "register_check"),
    "list": _imported("bot.cli_runbook", "register_list"),
    "show": _imported("bot.cli_runbook", "register_show"),
    "schema": _imported("bot.cli_runbook", "register_schema"),
    "audit": _imported("bot.cli_admin", "register_audit"),
    "db": _imported("bot.cli_admin", "register_db"),
    "serve": register_serve,
    "backtest": _imported("bot.cli_backtest", "register_backtest"),
}


def registrars() -> list[Registrar]:
    """Every subcommand, in the order ``ionbot --help`` lists them."""
    return list(COMMANDS.values())


def build_parser(only: Registrar | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ionbot", description="ION rollout bot")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in [only] if only is not None else registrars():
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``ionbot`` and ``python -m bot``; returns the exit code."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    # A named command imports only its own module; no command, or an unknown one, lists them all.
    parser = build_parser(COMMANDS.get(arguments[0]) if arguments else None)
    try:
        args = parser.parse_args(arguments)
    except SystemExit as exit_:  # argparse exits on --help and on usage errors
        return exit_.code if isinstance(exit_.code, int) else 2
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return handler(args)
