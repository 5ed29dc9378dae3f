"""Where scheduled reports go in Slack: text through the outbox, charts as file uploads.

Charts cannot ride the outbox (it stores JSON), so they are uploaded directly with the
client's retry handlers; a failed upload never stops the report itself from posting.
In the console the chart is written to a folder and the report shows its path instead.
"""

from __future__ import annotations

import asyncio
from hashlib import sha1
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.blocks.limits import FALLBACK_TEXT, clamp
from bot.slack.delivery.outbox import Outbox


class SlackReportPoster:
    """Implements bot.reports.service.ReportPoster for Slack (or, with ``files_dir``, the console)."""

    def __init__(self, outbox: Outbox, client: AsyncWebClient, *, files_dir: Path | None = None) -> None:
        self._outbox = outbox
        self._client = client
        self._files_dir = files_dir
        self._posted: dict[str, str] = {}  # dedupe key -> ts of the report, for replies in its thread

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, dedupe_key: str) -> None:
        args: dict[str, Any] = {"channel": channel, "text": clamp(text, FALLBACK_TEXT)}
        if blocks:
            args["blocks"] = blocks
        sent = await self._outbox.send("chat.postMessage", args, f"report|{dedupe_key}")
        if sent.delivered_ts:
            self._posted[dedupe_key] = sent.delivered_ts

    async def reply(self, channel: str, dedupe_key: str, text: str) -> None:
        """In the report's thread when its ts is known here; else in the channel, once per text."""
        args: dict[str, Any] = {"channel": channel, "text": clamp(text, FALLBACK_TEXT)}
        ts = self._posted.get(dedupe_key)
        if ts:
            args["thread_ts"] = ts
        digest = sha1(text.encode()).hexdigest()[:12]
        await self._outbox.send("chat.postMessage", args, f"report-note|{dedupe_key}|{digest}")

    def _write(self, filename: str, content: bytes) -> str:
        assert self._files_dir is not None
        self._files_dir.mkdir(parents=True, exist_ok=True)
        path = self._files_dir / filename
        path.write_bytes(content)
        return str(path)

    async def upload(self, channel: str, filename: str, content: bytes, title: str) -> str:
        if self._files_dir is not None:
            return await asyncio.to_thread(self._write, filename, content)
        response = await self._client.files_upload_v2(channel=channel, filename=filename, content=content, title=title)
        file = response.get("file") or {}
        return str(file.get("permalink") or filename)
