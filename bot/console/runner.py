"""``ionbot console``: the bot in a terminal, with the demo team, a fake Slack and the sim world.

Lines come from the terminal (a prompt shows who is typing) or from a pipe; each reply is
drawn with rich, or printed as one JSON line per Web API call with ``--json`` for scripts.
Errors are one sentence each, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import structlog
from rich.console import Console
from rich.text import Text

from bot.config import ConfigError, load_settings
from bot.console.actions import Confirm
from bot.console.feed import Entry
from bot.console.input_lines import parse_console_line
from bot.console.render import changed_lines, render
from bot.console.session import ConsoleError, Note, Output, Session, SessionOptions, default_virtual_start
from bot.console.timeline import local_timeline
from bot.engine.permissions import DEMO_TEAM
from bot.logs import configure_logging
from bot.runbook.errors import RunbookError
from bot.runbook.loader import load_runbook

ReadLine = Callable[[str], Awaitable[str | None]]
# How a session is opened: the composition root's (bot.bootstrap_console.ConsoleSession), given by bot/cli.py.
OpenSession = Callable[[SessionOptions, Confirm | None], Session]
NAMES = {m.user_id: m.name for m in DEMO_TEAM}


class Printer:
    """Draws replies in the terminal (rich) or prints each Web API call as a JSON line."""

    def __init__(self, out: TextIO, *, as_json: bool, color: bool, verbose: bool = False) -> None:
        self.as_json = as_json
        self.verbose = verbose  # an updated card drawn whole, not only the lines that changed
        self.out = out
        self.console = Console(file=out, force_terminal=color, no_color=not color, highlight=False, width=100)
        self.err = Console(file=sys.stderr, highlight=False, width=100)

    def echo(self, prompt: str, line: str) -> None:
        if not self.as_json:
            self.console.print(Text(f"{prompt}{line}", style="bold"))

    def show(self, outputs: Iterable[Output]) -> None:
        for output in outputs:
            if isinstance(output, Note):
                target = self.err if self.as_json else self.console
                target.print(Text(output.text, style=output.style))
            elif self.as_json:
                raw = {k: v for k, v in output.raw.items() if k != "_tag"}
                print(json.dumps({"method": output.method, "payload": raw}, default=str), file=self.out)
            elif output.visible:
                self._entry(output)
        self.out.flush()

    def _entry(self, entry: Entry) -> None:
        if entry.previous is not None and not self.verbose:  # an update: only what changed
            changed = changed_lines(entry.previous, entry.payload, NAMES)
            note = "" if changed else "(nothing visible changed)"
            self.console.print(Text(f"── {entry.title} {note}", style="dim"))
            render(entry.payload, self.console, NAMES, changed)
            return
        self.console.print(Text(f"── {entry.title} ", style="dim"))
        if entry.payload:
            render(entry.payload, self.console, NAMES)


def parse_clock(value: str | None, zone: ZoneInfo) -> datetime | None:
    """``virtual`` or ``virtual=2026-11-02T08:30`` (runbook time zone) -> start; ``real``/None -> None."""
    if value is None or value == "real":
        return None
    kind, _, start = value.partition("=")
    if kind != "virtual":
        raise ConsoleError(
            f"--clock takes 'real' or 'virtual[=START]', not '{value}'; e.g. --clock virtual=2026-11-02T08:30."
        )
    if not start:
        return default_virtual_start(zone)
    try:
        parsed = datetime.fromisoformat(start)
    except ValueError:
        raise ConsoleError(
            f"'{start}' is not a start time; write it like 2026-11-02T08:30 (runbook time zone)."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


async def run_lines(session: Session, read: ReadLine, printer: Printer, *, echo: bool) -> int:
    """The loop: read, act, show, until EOF or quit."""
    while True:
        prompt = f"{session.user.name}> "
        line = await read(prompt)
        if line is None:
            return 0
        if echo:
            printer.echo(prompt, line.rstrip("\n"))
        reply = await session.send(parse_console_line(line))
        printer.show(reply.outputs)
        if reply.quit:
            return 0


def _stdin_reader(interactive: bool) -> ReadLine:
    loop = asyncio.get_running_loop()

    async def read(prompt: str) -> str | None:
        if interactive:
            try:
                return await loop.run_in_executor(None, input, prompt)
            except EOFError:
                return None
        text = await loop.run_in_executor(None, sys.stdin.readline)
        return text if text else None

    return read


def _terminal_confirm() -> Callable[[str, str], Awaitable[bool]]:
    loop = asyncio.get_running_loop()

    async def confirm(title: str, text: str) -> bool:
        try:
            answer = await loop.run_in_executor(None, input, f"{title} {text} confirm? [y/N] ")
        except EOFError:
            return False
        return answer.strip().lower() in ("y", "yes")

    return confirm


async def console_main(args: argparse.Namespace, open_session: OpenSession) -> int:
    settings = load_settings()
    zone = ZoneInfo(load_runbook(settings.runbook).calendar.timezone)
    options = SessionOptions(
        start=parse_clock(args.clock, zone),
        user=args.as_user,
        channel=args.channel,
        faults=tuple(args.fault or ()),
        run_start=args.run_start,
        watch_every=args.watch_every,
        database_url=args.database_url,
    )
    interactive = sys.stdin.isatty()
    printer = Printer(sys.stdout, as_json=args.json, color=sys.stdout.isatty(), verbose=args.verbose)
    confirm = _terminal_confirm() if interactive else None
    async with open_session(options, confirm) as session:
        if not args.json:
            clock = "virtual" if options.start else "real"
            printer.show(
                [Note(f"ION console ({clock} clock, {session.local_now():%a %d %b %H:%M %Z}); type help.", "dim")]
            )
        printer.show(session.started)  # executions a stopped console left running, now reconciled
        async with local_timeline(session, args.timeline_port) as note:  # the read-only web view (bot/web)
            if not args.json:
                printer.show([note])
            return await run_lines(session, _stdin_reader(interactive), printer, echo=not interactive)


def run_console(args: argparse.Namespace, open_session: OpenSession) -> int:
    return run_safely(console_main(args, open_session))


LOG_FILE = Path(tempfile.gettempdir()) / "ionbot-console.log"


@contextmanager
def logs_to_file(path: Path = LOG_FILE) -> Iterator[Path]:
    """The bot's logs (tracebacks included) go to a file, so the terminal shows only the conversation.

    The same chain as ``serve`` (bot.logs: JSON lines, tokens and passwords masked), in a file only
    its owner can read; other libraries' records below WARNING are left out."""
    previous = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with contextlib.suppress(PermissionError):  # a file left by an older version may be readable by others
        os.fchmod(descriptor, 0o600)
    with open(descriptor, "a", encoding="utf-8") as stream:
        configure_logging("json", "INFO", stream=stream)
        root.setLevel(logging.WARNING)
        try:
            yield path
        finally:
            structlog.configure(**previous)
            root.handlers, root.level = handlers, level


def run_safely(main: Coroutine[Any, Any, int]) -> int:
    """Run ``main``; any failure becomes one sentence on stderr and exit code 1 (2 for setup errors)."""
    try:
        with logs_to_file():
            return asyncio.run(main)
    except KeyboardInterrupt:
        return 130
    except (ConsoleError, ConfigError) as error:
        print(f"ionbot: {error}", file=sys.stderr)
        return 2
    except RunbookError as error:
        print(f"ionbot: the runbook cannot be loaded ({error}); run `ionbot check` for every problem.", file=sys.stderr)
        return 2
    except ImportError as error:
        print(f"ionbot: a part of the bot is missing ({error}); reinstall with `pip install -e .`.", file=sys.stderr)
        return 1
    except OSError as error:
        print(
            f"ionbot: {error.strerror or error}; nothing was changed. Check the path or port and try again.",
            file=sys.stderr,
        )
        return 1
    except Exception as error:  # the last line of defence: a sentence, never a traceback
        print(
            f"ionbot: stopped on an unexpected {type(error).__name__}: {error}. Nothing else was changed; "
            f"the details are in {LOG_FILE}.",
            file=sys.stderr,
        )
        return 1


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; write it like 2026-11-02") from None


def register_console(commands: argparse._SubParsersAction[argparse.ArgumentParser], open_session: OpenSession) -> None:
    """``ionbot console``, its sessions opened by ``open_session`` (the console builds no bot itself)."""
    parser = commands.add_parser("console", help="talk to the bot in the terminal, as the demo team, against the sim")
    parser.add_argument(
        "--clock",
        default=None,
        metavar="real|virtual[=START]",
        help="virtual: time moves only with `advance` (START like 2026-11-02T08:30, runbook zone; "
        "default Mon 2026-11-02 08:30); default: the real clock",
    )
    parser.add_argument(
        "--json", action="store_true", help="print every Web API call as a JSON line instead of drawing"
    )
    parser.add_argument(
        "--as",
        dest="as_user",
        default="lee",
        metavar="NAME",
        help="who types first: maria (manager), lee (lead), sam (on-call SRE), dana (member)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="draw an updated card whole (default: only the lines that changed)",
    )
    parser.add_argument("--channel", default=None, help="channel id the console plays in (default: $ION_CHANNEL)")
    parser.add_argument(
        "--fault",
        action="append",
        metavar="FAULT",
        help='inject a metric fault, e.g. "error_rate_pct 2.5 after day2.1 for 10m" (repeatable)',
    )
    parser.add_argument("--run-start", type=_date, default=None, metavar="DATE", help="day 1 of the run, for faults")
    parser.add_argument(
        "--watch-every",
        type=int,
        default=1,
        metavar="N",
        help="with a virtual clock, poll the triggers every N watch intervals (default 1)",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="state store (default: $ION_DATABASE_URL; a fresh temporary file with a virtual clock)",
    )
    parser.add_argument(
        "--timeline-port",
        type=int,
        default=8421,
        metavar="PORT",
        help="port of the read-only web timeline on 127.0.0.1, no sign-in (default 8421; busy or 0: any free one)",
    )
    parser.set_defaults(handler=lambda args: run_console(args, open_session))
