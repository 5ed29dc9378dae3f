"""Scheduled reports in Slack: text through the outbox, the chart as a real files_upload_v2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import VirtualClock
from bot.sim.slack_api import FakeSlackApi
from bot.slack.delivery.outbox import Outbox
from bot.slack.delivery.report_poster import SlackReportPoster
from bot.store.migrate import upgrade
from bot.store.repository import SqlStore

PNG = b"\x89PNG\r\n\x1a\n chart"


@pytest.fixture
async def poster_parts(tmp_path: Path) -> AsyncIterator[tuple[FakeSlackApi, Outbox, AsyncWebClient, SqlStore]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ion.db'}"
    await upgrade(url)
    clock = VirtualClock(datetime(2026, 11, 3, 23, tzinfo=UTC))
    store = SqlStore.open(url, clock=clock)
    async with FakeSlackApi() as api:
        client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
        yield api, Outbox(store, client, clock), client, store
    await store.close()


async def test_a_report_posts_once_even_when_its_job_runs_twice(
    poster_parts: tuple[FakeSlackApi, Outbox, AsyncWebClient, SqlStore],
) -> None:
    api, outbox, client, _ = poster_parts
    poster = SlackReportPoster(outbox, client)
    for _ in range(2):
        await poster.post("C0ROLLOUT", "Week 17 Day 2 Report", None, "daily_report:run-1:2")
    assert [call["text"] for call in api.calls("chat.postMessage")] == ["Week 17 Day 2 Report"]


async def test_the_chart_is_uploaded_to_the_channel_with_files_upload_v2(
    poster_parts: tuple[FakeSlackApi, Outbox, AsyncWebClient, SqlStore],
) -> None:
    api, outbox, client, _ = poster_parts
    where = await SlackReportPoster(outbox, client).upload("C0ROLLOUT", "day2.png", PNG, "Day 2 metrics")
    assert list(api.uploads.values()) == [PNG]
    completed = api.last("files.completeUploadExternal")
    assert completed is not None and completed["channel_id"] == "C0ROLLOUT"
    assert where  # a permalink (or the file name) the report can show


async def test_in_the_console_the_chart_is_written_to_a_file_whose_path_the_report_shows(
    poster_parts: tuple[FakeSlackApi, Outbox, AsyncWebClient, SqlStore], tmp_path: Path
) -> None:
    api, outbox, client, _ = poster_parts
    where = await SlackReportPoster(outbox, client, files_dir=tmp_path / "charts").upload(
        "C0ROLLOUT", "day2.png", PNG, "Day 2 metrics"
    )
    assert await asyncio.to_thread(Path(where).read_bytes) == PNG
    assert api.uploads == {}
