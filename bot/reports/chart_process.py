"""The chart process itself: ``python -m bot.reports.chart_process`` reads requests on stdin, draws,
answers on stdout, and exits when stdin closes (its parent asked it to, or died).

A frame is a 4-byte big-endian length and a pickle. A request is ``(function, args)`` with a
module-level function (pickled by name) and plain data; the answer is ``(True, result)`` or
``(False, exception)``. Only the bot's own process talks to it, over its pipes.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import struct
import sys
from collections.abc import Callable
from typing import IO, Any

# What every chart needs: imported as the process starts, before its first chart is asked for.
CHART_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.dates", "matplotlib.ticker")
_LENGTH = struct.Struct(">I")


class ChartProcessGone(EOFError):
    """The other end closed the pipe: the process stopped (or its parent did)."""


def write_frame(stream: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: IO[bytes]) -> Any:
    head = _read_exactly(stream, _LENGTH.size)
    return pickle.loads(_read_exactly(stream, _LENGTH.unpack(head)[0]))


def _read_exactly(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise ChartProcessGone("the chart process closed its pipe")
    return data


def _answer(function: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
    try:
        return True, function(*args)
    except Exception as error:  # the caller gets the chart's own error, as a thread would have raised it
        try:
            pickle.dumps(error)
        except Exception:
            return False, RuntimeError(f"{type(error).__name__}: {error}")
        return False, error


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer requests one at a time until the requests pipe closes."""
    for name in CHART_MODULES:
        importlib.import_module(name)
    while True:
        try:
            function, args = read_frame(requests)
        except ChartProcessGone:
            return
        try:
            write_frame(answers, _answer(function, args))
        except BrokenPipeError:  # the bot stopped while this chart was drawn
            return


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group: the bot decides when this process stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print (Python's or a library's) goes to stderr, never into the answers pipe
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
