"""A fresh process that starts `ionbot serve` (sim, new SQLite file), answers two signed commands,
notes which heavy libraries answering loaded, then uses the parts loaded lazily for the first time.

Run by tests/runtime/test_first_answer_imports.py as ``python -m tests.runtime.first_answer_process
WORKDIR``; it prints one JSON object. Only a fresh interpreter can say what answering imports.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.config import Settings
from bot.runbook.models import Runbook
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.slack import server
from bot.slack.server import Served

REPO = Path(__file__).resolve().parents[2]
RUNBOOK = REPO / "runbooks" / "week17.yaml"
SECRET = "first-answer-secret"
CHANNEL = "C_ION_ROLLOUT"
# Whatever answering a command does not need (the backtest, charts, reports, Google, IAP, migrations, mail).
HEAVY = ("numpy", "matplotlib", "jinja2", "grpc", "google", "cryptography", "alembic", "mako", "aiosmtplib")
COMMANDS = {"U0LEE": "help", "U0SAM": "audit 5"}
# What serve builds only once the first answers are out (bot/serve_runtime.py): the jobs and the reports
# (and their report model, which the clicks that record a quality fact import at their first use).
DEFERRED = ("apscheduler", "bot.runtime", "bot.reports.service", "bot.engine.report_model")


async def _never_settle(**_: object) -> None:
    """serve imports the reports' libraries and opens the web timeline on purpose a second after it
    opens (bot/heap.py); held here, so what this process loaded by the answers is what answering
    itself needed."""
    await asyncio.Event().wait()


def _signed(body: str) -> dict[str, str]:
    import hashlib
    import hmac

    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}


async def _send(http: aiohttp.ClientSession, url: str, user: str, text: str) -> int:
    body = urlencode(
        {"command": "/ion", "text": text, "user_id": user, "channel_id": CHANNEL, "trigger_id": f"t-{user}"}
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", **_signed(body)}
    async with http.post(url + "/slack/events", data=body, headers=headers) as response:
        return response.status


async def answer_two_commands(workdir: Path) -> dict[str, Any]:
    workspace = FakeSlackWorkspace(users={"U0LEE": {"name": "lee"}, "U0SAM": {"name": "sam"}}, channels={CHANNEL: "r"})
    async with FakeSlackApi(workspace) as api, aiohttp.ClientSession() as http:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{workdir}/ion.db",
            runbook=RUNBOOK,
            cloud="sim",
            slack_bot_token="xoxb-test",
            slack_signing_secret=SECRET,
            slack_api_url=api.base_url,
            host="127.0.0.1",
            port=0,
        )
        listening: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        serving = asyncio.create_task(
            server.serve(settings, build=_jobs_never_start, on_listening=listening.set_result)
        )
        try:
            url = f"http://127.0.0.1:{await listening}"
            statuses = await asyncio.gather(*(_send(http, url, user, text) for user, text in COMMANDS.items()))
            answers = asyncio.create_task(api.wait_for("chat.postEphemeral", len(COMMANDS)))
            await asyncio.wait([answers, serving], timeout=60, return_when=asyncio.FIRST_COMPLETED)
            if serving.done():  # it stopped: its error says why
                answers.cancel()
                serving.result()
            await asyncio.wait_for(answers, 1)
            answered = sorted(str(call["user"]) for call in api.calls("chat.postEphemeral"))
            loaded = sorted(name for name in HEAVY if name in sys.modules)
            deferred = sorted(name for name in DEFERRED if name in sys.modules)
        finally:
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
    return {"statuses": statuses, "answered": answered, "loaded": loaded, "deferred_loaded": deferred}


async def _jobs_never_start(settings: Settings, runbook: Runbook | None, socket_mode: bool) -> Served:
    """serve's own builder, whose jobs (built after the first answers, bot/serve_runtime.py) are
    held here like ``_never_settle``: what was loaded by the answers is what answering needed."""
    from bot.bootstrap import ServedBot, served_builder

    served: ServedBot = await served_builder()(settings, runbook, socket_mode)
    vars(served)["start"] = _never_settle
    return served


def a_report() -> str:
    """The daily report through the renderer serve builds (Jinja loaded here, at its first use)."""
    from bot.reports.render import DAILY_REPORT, ReportRenderer
    from bot.reports.samples import sample_contexts

    return ReportRenderer().render(DAILY_REPORT, sample_contexts()[DAILY_REPORT])


def a_chart() -> bytes:
    from datetime import UTC, datetime, timedelta

    from bot.reports.charts import ChartSeries, metrics_chart_png

    start = datetime(2026, 11, 2, tzinfo=UTC)
    points = [(start + timedelta(minutes=m), 40.0 + m % 7) for m in range(0, 600, 10)]
    return metrics_chart_png("p95 latency", [ChartSeries("p95", "ms", points, baseline=40.0)])


async def a_cloud_run_read() -> tuple[int, int]:
    """The real Cloud Run client (gRPC) against the sim's facade, through the bot's adapter: the
    min instances it read, and the sim world's own."""
    import grpc
    from google.cloud import run_v2
    from google.cloud.run_v2.services.services.transports import ServicesGrpcAsyncIOTransport

    from bot.cloud.cloud_run import GoogleCloudRun
    from bot.runbook.loader import load_runbook
    from bot.sim.cloud_run_facade import CloudRunFacade
    from bot.sim.world import World

    runbook = load_runbook(RUNBOOK)
    production = next(env for env in runbook.environments if env.production)
    service = runbook.services[0]
    region = service.regions[0]
    world = World.seeded(runbook)
    facade = CloudRunFacade(world)
    channel = grpc.aio.insecure_channel(await facade.start())
    try:
        client = run_v2.ServicesAsyncClient(transport=ServicesGrpcAsyncIOTransport(channel=channel))
        config = await GoogleCloudRun(client).get_service(production.project, region, service.name)
        return config.min_instances, world.services[(production.project, region, service.name)].config().min_instances
    finally:
        await channel.close()
        await facade.stop()


async def main(workdir: Path) -> None:
    vars(server)["freeze_once_settled"] = _never_settle  # see _never_settle
    found = await answer_two_commands(workdir)
    found["report"] = a_report()
    found["chart_png_header"] = a_chart()[:8].hex()
    found["cloud_run_min_instances"] = list(await a_cloud_run_read())
    print(json.dumps(found))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
