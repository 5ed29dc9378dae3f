"""Where scheduled reports go in Slack: text through the outbox, charts as file uploads.

Charts cannot ride the outbox (it stores JSON), so they are uploaded directly with the
client's retry handlers; a failed upload never stops the report itself from posting.
In the console the chart is written to a folder and the report shows its path instead.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.delivery import Outbox
from bot.slack.limits import FALLBACK_TEXT, clamp


class SlackReportPoster:
    """Implements bot.reports.service.ReportPoster for Slack (or, with ``files_dir``, the console)."""

    def __init__(self, outbox: Outbox, client: AsyncWebClient, *, files_dir: Path | None = None) -> None:
        self._outbox = outbox
        self._client = client
        self._files_dir = files_dir

    async def post(self, channel: str, text: str, blocks: list[dict[str, Any]] | None, dedupe_key: str) -> None:
        args: dict[str, Any] = {"channel": channel, "text": clamp(text, FALLBACK_TEXT)}
        if blocks:
            args["blocks"] = blocks
        await self._outbox.send("chat.postMessage", args, f"report|{dedupe_key}")

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
