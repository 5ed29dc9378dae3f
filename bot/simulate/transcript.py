"""What a simulation said, written down: the whole conversation, every Web API call, reports and charts.

``--out DIR`` gets ``transcript.txt`` (each typed line and everything the bot posted, as text),
``calls.jsonl`` (every recorded Web API call), ``reports/`` (each scheduled job's messages,
one file per job run) and ``files/`` (report charts, written there as they are posted, and
any file uploaded through the Web API, named by its file id and file name: ``F00000001-backtest.md``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.console.feed import Entry
from bot.console.jobs import Fired
from bot.console.render import render_text
from bot.console.words import Note, Output
from bot.engine.permissions import TeamMember
from bot.sim.slack_api import FakeSlackApi


@dataclass
class Transcript:
    """Collects the conversation as it happens; ``write`` puts it on disk."""

    team: tuple[TeamMember, ...]
    lines: list[str] = field(default_factory=list)

    @property
    def names(self) -> dict[str, str]:
        return {m.user_id: m.name for m in self.team}

    def said(self, prompt: str, line: str, outputs: list[Output]) -> None:
        self.lines.append(f"{prompt}{line}")
        self.lines += self.text(outputs)

    def text(self, outputs: list[Output]) -> list[str]:
        out: list[str] = []
        for output in outputs:
            if isinstance(output, Note):
                out.append(output.text)
            elif isinstance(output, Entry) and output.visible:
                out.append(f"── {output.title}")
                if output.payload:
                    out.append(render_text(output.payload, self.names))
        return out

    def write(
        self, folder: Path, api: FakeSlackApi, jobs: list[tuple[Fired, list[Entry]]], zone: ZoneInfo
    ) -> list[Path]:
        """Write every file; returns their paths. Report file names carry their local time and zone
        (``20261103T1700CST-...``), the zone the transcript shows, so the two never disagree."""
        folder.mkdir(parents=True, exist_ok=True)
        written = [folder / "transcript.txt", folder / "calls.jsonl"]
        written[0].write_text("\n".join(self.lines) + "\n", encoding="utf-8")
        with written[1].open("w", encoding="utf-8") as calls:
            for call in api.recorded:
                calls.write(json.dumps({"method": call.method, "payload": call.payload}, default=str) + "\n")
        reports = folder / "reports"
        for fired, entries in jobs:
            shown = [e for e in entries if e.visible and e.method != "chat.update"]
            if fired.due.job.kind == "trigger_watch" or not shown:
                continue
            reports.mkdir(exist_ok=True)
            stamp = f"{fired.due.at.astimezone(zone):%Y%m%dT%H%M%Z}"
            path = reports / f"{stamp}-{_slug(fired.due.job.job_key)}.txt"
            path.write_text("\n".join(self.text(list(shown))) + "\n", encoding="utf-8")
            written.append(path)
        files = folder / "files"
        names = _upload_names(api)
        for file_id, data in api.uploads.items():
            files.mkdir(exist_ok=True)
            path = files / _slug(names.get(file_id) or file_id)
            path.write_bytes(data)
        if files.is_dir():  # report charts land here as they are posted (the session's files_dir)
            written += sorted(p for p in files.iterdir() if p.is_file())
        return written


def _upload_names(api: FakeSlackApi) -> dict[str, str]:
    """File id -> "F00000001-backtest.md": the id the transcript shows ("Report: F00000001"), then the
    file's own name. A batch's files are asked for an upload address one by one and completed together,
    in the same order, so the n-th address asked for is the n-th file completed."""
    asked = [str(c.payload.get("filename") or "") for c in api.recorded if c.method == "files.getUploadURLExternal"]
    completed = [
        item
        for call in api.recorded
        if call.method == "files.completeUploadExternal"
        for item in call.payload.get("files") or []
        if isinstance(item, dict) and item.get("id")
    ]
    names: dict[str, str] = {}
    for n, item in enumerate(completed):
        filename = asked[n] if n < len(asked) and len(asked) == len(completed) else ""
        names[str(item["id"])] = f"{item['id']}-{filename or item.get('title') or ''}".rstrip("-")
    return names


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "file"
