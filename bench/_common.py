"""What every benchmark shares: the figures table, the machine it ran on, percentiles, signed
Slack requests, and a served subprocess on 127.0.0.1 that is waited for and always stopped.

Benchmarks print figures for people to read: the table says whether each target was met, but
the exit code never depends on time (only on whether the figures could be measured at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp

from bot.sim.slack_api import Call, FakeSlackApi, FakeSlackWorkspace

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LOOPBACK = "127.0.0.1"
RUNBOOK = REPO / "runbooks" / "week17.yaml"
T = TypeVar("T")
# Variables that could point a child at a real workspace or cloud; the benchmarks set their own.
_FOREIGN_ENV = re.compile(r"^(SLACK_|ION_|GOOGLE_|GCLOUD_|CLOUDSDK_|PORT$)")


class BenchError(Exception):
    """A benchmark could not produce its figures; the message says why and what to check."""


# --- the figures table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One row: what was measured, its value, the target it is held against, and whether it met it."""

    name: str
    value: str
    target: str = ""
    met: bool | None = None


def machine() -> list[Figure]:
    """The machine the figures came from: they mean little without it."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 0
    return [
        Figure("machine: nproc", str(cores)),
        Figure("machine: CPU", cpu_model()),
        Figure("machine: Python", f"{platform.python_version()} ({platform.python_implementation()})"),
    ]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def print_report(title: str, figures: Sequence[Figure], notes: Sequence[str] = ()) -> None:
    """A Markdown table (pastes straight into the README) followed by the machine and notes."""
    rows = [*figures, *machine()]
    print(f"\n## {title}\n")
    print("| figure | value | target | met |")
    print("|---|---|---|---|")
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "NO")
        print(f"| {row.name} | {row.value} | {row.target} | {met} |")
    for note in notes:
        print(f"\n{note}")
    sys.stdout.flush()


# --- numbers ------------------------------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p100 is the maximum); raises on an empty sample."""
    if not values:
        raise BenchError("No measurements were taken, so there is no percentile to show.")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    """The middle value, the mean of the two middle ones for an even count (nearest rank would
    report the faster of two runs)."""
    if not values:
        raise BenchError("No measurements were taken, so there is no median to show.")
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000.0:.1f} ms"


def secs(seconds: float) -> str:
    return f"{seconds:.2f} s"


def mib(size_bytes: float) -> str:
    """Both units, so a "200 MB" target reads the same either way: ``179.5 MiB (188.2 MB)``."""
    return f"{size_bytes / (1024 * 1024):.1f} MiB ({size_bytes / 1e6:.1f} MB)"


# --- Slack requests -----------------------------------------------------------------------------


def slash_command(text: str, user: str, user_name: str, trigger_id: str, **extra: str) -> str:
    """A signed-ready `/ion TEXT` body as Slack posts it (form-encoded), from ``user`` in C_BENCH."""
    fields = {
        "command": "/ion",
        "text": text,
        "user_id": user,
        "user_name": user_name,
        "channel_id": "C_BENCH",
        **extra,
        "team_id": "T0ION",
        "trigger_id": trigger_id,
        "response_url": f"http://{LOOPBACK}:9/unused",
    }
    return urlencode(fields)


def slack_signature(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The two headers Slack signs a request with (v0 HMAC-SHA256 over ``v0:ts:body``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


# --- child processes ----------------------------------------------------------------------------


def free_port() -> int:
    """An ephemeral port on 127.0.0.1 that was free a moment ago (for a child that needs PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def ionbot(*args: str) -> list[str]:
    """The command line of ``ionbot ARGS`` run from this checkout's interpreter."""
    return [PYTHON, "-m", "bot", *args]


def child_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This environment without anything that could reach a real Slack or cloud, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not _FOREIGN_ENV.match(k)}
    env.update({"ION_CLOUD": "sim", "ION_RUNBOOK": str(RUNBOOK), "MPLBACKEND": "Agg", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


class ServedProcess:
    """A child HTTP server on 127.0.0.1: started, waited for on /healthz, and stopped on exit.

    Its output goes to a log file so a failure can show what the child said.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str], port: int, name: str) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.port = port
        self.name = name
        self.url = f"http://{LOOPBACK}:{port}"
        self._workdir = Path(tempfile.mkdtemp(prefix="ionbench-"))
        self.log_path = self._workdir / "child.log"
        self._process: asyncio.subprocess.Process | None = None
        self.started_at = 0.0

    @property
    def pid(self) -> int | None:
        """The child's process id once started (to read its CPU time from /proc)."""
        return self._process.pid if self._process is not None else None

    @property
    def workdir(self) -> Path:
        """A private directory for the child (its SQLite file), removed on exit."""
        return self._workdir

    async def start(self) -> None:
        log = self.log_path.open("wb")
        try:
            self.started_at = time.perf_counter()
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, cwd=REPO, env=self.env, stdout=log, stderr=asyncio.subprocess.STDOUT
            )
        finally:
            log.close()

    async def wait_healthy(self, timeout: float = 60.0, poll: float = 0.005, path: str = "/healthz") -> float:
        """Seconds from process start to the first 200 on ``path`` (/readyz: ready for Slack, not just
        listening); raise with the child's log if it never comes."""
        assert self._process is not None, "start() first"
        deadline = time.perf_counter() + timeout
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as http:
            while time.perf_counter() < deadline:
                if self._process.returncode is not None:
                    raise BenchError(
                        f"{self.name} exited with code {self._process.returncode} before answering {path}; "
                        f"its output ends:\n{self.log_tail()}"
                    )
                with contextlib.suppress(aiohttp.ClientError, OSError, asyncio.TimeoutError):
                    async with http.get(self.url + path) as response:
                        if response.status == 200:
                            return time.perf_counter() - self.started_at
                await asyncio.sleep(poll)
        raise BenchError(
            f"{self.name} did not answer {path} within {timeout:.0f} s; it was stopped. "
            f"Its output ends:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"

    async def stop(self, grace: float = 10.0) -> None:
        """SIGINT (a clean shutdown), then SIGKILL after ``grace`` seconds; only this child is signalled."""
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        shutil.rmtree(self._workdir, ignore_errors=True)

    async def __aenter__(self) -> ServedProcess:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def bench_main(title: str, run: Coroutine[Any, Any, None]) -> int:
    """Run an async benchmark; a BenchError becomes a sentence on stderr and exit code 1.

    SIGTERM (e.g. from ``timeout``) cancels the benchmark, so its children are stopped too.
    """

    async def guarded() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        await run

    try:
        asyncio.run(guarded())
    except BenchError as error:
        print(f"{title} did not finish: {error}", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):
        print(f"{title} was stopped before it finished; its child processes were stopped too.", file=sys.stderr)
        return 1
    return 0


# --- the fake Slack Web API, on its own thread ---------------------------------------------------


class SlackApiThread:
    """The fake Slack Web API served from its own event loop, so answering the bot's calls does not
    delay the load generator's clock. Read ``api`` (its records) from any thread.

    A benchmark waits for a reply with ``expect_reply``: the fake's loop resolves it as it records
    the call. Polling ``api.recorded`` instead (every 2 ms, a scan of every call so far, per person
    waiting) took CPU from the servers being measured on a 2-core machine."""

    def __init__(self) -> None:
        workspace = FakeSlackWorkspace(
            users={"U_LEAD": {"name": "lee"}, "U_SRE": {"name": "sam"}, "U_MANAGER": {"name": "maria"}},
            channels={"C_BENCH": "bench-rollout"},
        )
        self.api = FakeSlackApi(workspace)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-api", daemon=True)
        self._expected: dict[str, tuple[str | None, asyncio.AbstractEventLoop, asyncio.Future[float]]] = {}
        self._expecting = threading.Lock()
        self.api.on_recorded.append(self._recorded)

    def expect_reply(self, user: str, method: str | None = "chat.postEphemeral") -> asyncio.Future[float]:
        """A future, on the caller's loop, that the next ``method`` call (any, when None) naming ``user``
        resolves with its arrival time (``Call.at``). Ask before sending what it answers."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[float] = loop.create_future()
        with self._expecting:
            self._expected[user] = (method, loop, future)
        return future

    def forget(self, user: str) -> None:
        """Stop expecting a reply to ``user`` (it never came)."""
        with self._expecting:
            self._expected.pop(user, None)

    def _recorded(self, call: Call) -> None:
        """On the fake's loop, as each answered call is recorded."""
        user = str(call.payload.get("user", ""))
        with self._expecting:
            expected = self._expected.get(user)
            if expected is None or expected[0] not in (None, call.method):
                return
            del self._expected[user]
        _, loop, future = expected
        loop.call_soon_threadsafe(_resolve, future, call.at)

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.api.start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.api.stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()

    def read(self, question: Callable[[FakeSlackApi], T]) -> T:
        """Ask the fake something on its own thread, so its records never change mid-read."""

        async def ask() -> T:
            return question(self.api)

        return asyncio.run_coroutine_threadsafe(ask(), self._loop).result(timeout=30)

    def __enter__(self) -> SlackApiThread:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _resolve(future: asyncio.Future[float], at: float) -> None:
    if not future.done():
        future.set_result(at)


# --- one `ionbot simulate` ------------------------------------------------------------------------


@dataclass(frozen=True)
class SimulatedWeek:
    """One finished ``ionbot simulate``: how long it took, its peak memory, what it said last, and
    whether everything the runbook asked for happened (``missed`` lists what did not)."""

    wall: float
    peak_rss_bytes: int
    summary: str
    complete: bool
    missed: list[str]
    # Peak RSS of each process it started (its chart process), by pid: VmHWM, read every 50 ms.
    helper_peaks: dict[int, int] = field(default_factory=dict)
    # The most the process and those it started held at once: VmRSS of all of them, read every 50 ms.
    tree_peak_bytes: int = 0

    @property
    def helpers_peak_bytes(self) -> int:
        return sum(self.helper_peaks.values())


def week_checks(weeks: Sequence[SimulatedWeek]) -> tuple[Figure, list[str]]:
    """The row saying whether every simulated week did all the runbook asked, and notes naming what it missed."""
    failed = [w for w in weeks if not w.complete]
    figure = Figure(
        "runs where all the runbook asked for happened",
        f"{len(weeks) - len(failed)} of {len(weeks)}",
        f"{len(weeks)} of {len(weeks)}",
        not failed,
    )
    notes = [f"The last run said: {weeks[-1].summary}"]
    if failed:
        shown = "; ".join(failed[-1].missed[:5]) or "(no details)"
        notes.append(
            f"`ionbot simulate` reported things that did not happen, so a full week may take longer or more "
            f"memory than measured here. It listed {len(failed[-1].missed)}, first: {shown}"
        )
    return figure, notes


async def simulate_week(workdir: Path, days: int | None = None) -> SimulatedWeek:
    """Run ``ionbot simulate --out WORKDIR/out`` to the end; raise BenchError if it did not get through.

    The child is reaped with ``wait4`` so its own peak RSS (``ru_maxrss``, KiB on Linux) is read
    exactly, without polling and without counting any other child of this process.
    """
    argv = ionbot("simulate", "--out", str(workdir / "out"), *(["--days", str(days)] if days else []))
    log_path = workdir / "simulate.log"
    env = child_env({})  # its own default state store: a fresh temporary SQLite file
    with log_path.open("wb") as log:
        began = time.perf_counter()
        child = await asyncio.to_thread(
            subprocess.Popen, argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
    helper_peaks: dict[int, int] = {}
    tree_peak = [0]
    watching = asyncio.create_task(_watch_descendants(child.pid, helper_peaks, tree_peak))
    try:
        _, status, usage = await asyncio.shield(asyncio.to_thread(os.wait4, child.pid, 0))
    except BaseException:  # cancelled or interrupted: stop the child, then let its waiter reap it
        child.kill()
        raise
    finally:
        watching.cancel()
    wall = time.perf_counter() - began
    child.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    peak = int(usage.ru_maxrss) * 1024
    said = log_path.read_text(errors="replace").strip().splitlines()
    summary = next((line for line in reversed(said) if line.startswith("Simulated days")), None)
    if code not in (0, 1) or summary is None:  # 1 with a summary: it ran, but some check failed
        tail = "\n".join(said[-15:]) or "(nothing)"
        raise BenchError(
            f"`{' '.join(argv[1:])}` exited with code {code} before finishing the week, so there is "
            f"nothing to measure; it said:\n{tail}"
        )
    missed = [line.strip().removeprefix("- ") for line in said if line.startswith("  - ")]
    return SimulatedWeek(wall, peak, summary, code == 0, missed, helper_peaks, tree_peak[0])


async def _watch_descendants(pid: int, peaks: dict[int, int], tree_peak: list[int]) -> None:
    """Until cancelled: the high-water mark of each process ``pid`` started (VmHWM only grows, so the
    last reading before it exits is its peak within 50 ms of work), and the most ``pid`` and those
    together held at one reading. Linux only; elsewhere nothing."""
    while True:
        children = _descendants(pid)
        for child in children:
            peaks[child] = max(peaks.get(child, 0), _status_bytes(child, "VmHWM:"))
        held = sum(_status_bytes(one, "VmRSS:") for one in (pid, *children))
        tree_peak[0] = max(tree_peak[0], held)
        await asyncio.sleep(0.05)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid`` so far (Linux /proc), or None where it cannot be read.
    Less sensitive to a busy machine than wall time: it counts the work done, not the waits."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_bytes(pid: int, field_name: str) -> int:
    """A size field of ``pid``'s /proc status (VmHWM:, VmRSS:) in bytes (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0
