"""What every Slack handler shares: the wired bot, the way out (poster, outbox), who is who,
the optional reports hooks, and one rule for failures: a sentence to the person, never a traceback."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from bot.engine.errors import Refused
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.engine.watch import AlertNotFound
from bot.slack.cards import Poster, card_key
from bot.slack.delivery import Outbox
from bot.slack.identity import Directory
from bot.slack.render import Renderer

if TYPE_CHECKING:
    from bot.bootstrap import Bot
    from bot.slack.handlers.flows import Dialog

log = structlog.get_logger(__name__)


class ReportsPort(Protocol):
    """Reports on demand (`/ion report`, standup, metrics, cost, scaling); the reports engineer implements it."""

    async def daily_report(self, channel: str, day: int | None, actor: Actor) -> None: ...

    async def standup(self, channel: str, actor: Actor) -> None: ...

    async def metrics(self, channel: str, actor: Actor) -> dict[str, Any]:
        """A chat.postMessage-shaped message (text, blocks) with metrics against baseline and target."""
        ...

    async def record_cost(self, channel: str, service: str, amount: Any, actor: Actor) -> str: ...

    async def record(self, channel: str, item: str, value: str, note: str | None, actor: Actor) -> str: ...

    async def scaling(self, channel: str, actor: Actor) -> str: ...


@dataclass
class AppState:
    """The Slack app's parts; the lead sets ``reports`` once the reports port exists."""

    bot: Bot
    outbox: Outbox
    poster: Poster
    directory: Directory
    render: Renderer
    reports: ReportsPort | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    dialogs: dict[str, Dialog] = field(default_factory=dict)  # trigger id -> dialog opened on arrival (flows)

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Background work that must outlive the request (executions, rollbacks); kept until done."""
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def settle(self) -> None:
        """Wait for background work started so far (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)

    @property
    def dry_run(self) -> bool:
        return self.bot.settings.dry_run

    async def refresh_card(self, run: Run, scope: str, at: tuple[str, str] | None = None) -> None:
        """Re-draw the step or gate card in place: the message ``at`` (channel, ts), else the tracked one."""
        kind = "gate" if self.bot.runbook.gate(scope) is not None else "step"
        where = at or await self.poster.where(card_key(kind, run.id, scope))
        if where is None:
            return
        if kind == "gate":
            message = await self.render.gate(run, scope)
        else:
            _, message = await self.render.step(run, scope)
        await self.poster.update(where[0], where[1], message, dry_run=run.dry_run)


@asynccontextmanager
async def answered(state: AppState, channel: str, user: str, what: str) -> AsyncIterator[None]:
    """Run a handler's work; a refusal becomes an ephemeral sentence (and an audit entry, unless the
    engine wrote one), anything else a logged error id."""
    try:
        yield
    except Refused as refused:
        if not refused.audited:
            await _audit_refusal(state, channel, user, what, refused)
        await state.poster.say(channel, user, refused.message, dry_run=state.dry_run)
    except AlertNotFound as gone:
        await state.poster.say(channel, user, str(gone), dry_run=state.dry_run)
    except Exception:
        error_id = uuid.uuid4().hex[:8]
        log.exception("slack handler failed", what=what, error_id=error_id, channel=channel, user=user)
        await state.poster.say(
            channel,
            user,
            f"Something went wrong while handling {what}; nothing further was changed. "
            f"The error was logged with id {error_id}; tell the bot's maintainers.",
            dry_run=state.dry_run,
        )


async def _audit_refusal(state: AppState, channel: str, user: str, what: str, refused: Refused) -> None:
    """A refusal made in the chat layer (an unknown runbook, a stale card) is on the record too."""
    try:
        actor = await state.directory.actor(user)
        run = await state.bot.store.open_run(channel)
        await state.bot.rollout.ctx.auditor.record(
            actor, what, run_id=run.id if run else None, outcome="refused", detail=refused.message
        )
        refused.audited = True
    except Exception:  # the refusal is still said; a failed audit write is logged, not shown
        log.exception("refusal not audited", what=what, channel=channel, user=user)
