"""`/ion backtest [WEEKS]`: replay the runbook's triggers, gate checks and acceptance criteria on the
last weeks of production metrics, upload the report (Markdown and one chart per metric) to the
channel, post the summary with the red lines beside it, and keep the summary for the Go/No-Go gate.

Files cannot ride the outbox (it stores JSON), so they are uploaded directly, as the report poster
uploads charts, after the summary is first saved: that write claims the Slack delivery, so a retried
request stops before uploading again. The summary message goes through the outbox.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.engine.errors import Refused
from bot.slack import command_parser as c
from bot.slack.blocks.limits import FALLBACK_TEXT, clamp

if TYPE_CHECKING:
    from bot.slack.listeners.commands import Command


async def on_backtest(command: Command, cmd: c.BacktestCommand) -> None:
    # Imported here: the backtest (numpy, matplotlib) is no part of answering any other command.
    from bot.backtest.output import REPORT_NAME, render, save_summary
    from bot.backtest.report import summary_text
    from bot.backtest.service import BacktestRefused, run_backtest
    from bot.backtest.subjects import GATE_ENVIRONMENT
    from bot.heap import release_freed_memory

    deps, channel = command.deps, command.channel
    now = deps.clock.now()
    await command.say(f"Backtesting runbook {deps.runbook.id} on the last {cmd.weeks:g} weeks of production metrics…")
    try:
        done = await run_backtest(deps.runbook, deps.metrics, GATE_ENVIRONMENT, cmd.weeks, now)
    except BacktestRefused as refused:
        raise Refused(f"{refused} Nothing was backtested.") from None
    except Exception as exc:  # Monitoring refused or failed: a sentence, never a traceback
        raise Refused(f"The metric history could not be read: {exc}. Nothing was backtested.") from None
    # The first store write claims this Slack delivery (bot/store/deliveries.py): a redelivery that
    # reaches this point stops here, before uploading the files a second time.
    await save_summary(deps.cards, done.result, f"the backtest report posted in <#{channel}>", now)
    text, pngs = await asyncio.to_thread(render, done, ZoneInfo(deps.runbook.calendar.timezone))
    uploads: list[dict[str, Any]] = [
        {"filename": REPORT_NAME, "content": text.encode("utf-8"), "title": f"Backtest of {deps.runbook.id}"},
        *({"filename": name, "content": png, "title": name.removesuffix(".png")} for name, png in pngs.items()),
    ]
    response = await command.state.outbox.client.files_upload_v2(channel=channel, file_uploads=uploads)
    files = response.get("files") or []
    link = str((files[0].get("permalink") or files[0].get("id")) if files else REPORT_NAME)
    await save_summary(deps.cards, done.result, link, now)
    message = f"{summary_text(done.result)}\nReport: {link} ({len(uploads)} files above)."
    args: dict[str, Any] = {"channel": channel, "text": clamp(message, FALLBACK_TEXT)}
    del done, text, pngs, uploads
    release_freed_memory()  # weeks of points and the charts: tens of MB the bot has no more use for
    await command.state.outbox.send("chat.postMessage", args, f"backtest|{channel}|{now.isoformat()}")
