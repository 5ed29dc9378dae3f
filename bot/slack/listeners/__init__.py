"""What every Slack handler shares: the app's dependencies (SlackDeps), the way out (poster, outbox), who is who,
the optional reports hooks, one rule for failures (a sentence to the person, never a traceback),
and exactly once per Slack delivery: a redelivered request is answered again, never worked again."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from bot.engine import delegation
from bot.engine.deliveries import AlreadyHandled, Delivery, current_delivery, handling, keep_first_look
from bot.engine.errors import Refused, StoreUnavailable
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.engine.watch import AlertNotFound
from bot.slack.blocks.render import Renderer
from bot.slack.delivery.cards import Poster, card_key
from bot.slack.delivery.outbox import Outbox
from bot.slack.deps import ReportsPort, SlackDeps
from bot.slack.identity import Directory

if TYPE_CHECKING:
    from bot.slack.listeners.flows import Dialog

log = structlog.get_logger(__name__)


class HandoverAcceptance(Protocol):
    """On-call takes the night: the sentence said to the person (bot/engine/handover.py)."""

    async def accept(self, run: Run, actor: Actor) -> str: ...


@dataclass
class AppState:
    """The Slack app's parts, built once by build_app from its SlackDeps."""

    deps: SlackDeps
    poster: Poster
    directory: Directory
    render: Renderer
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    handover: HandoverAcceptance | None = None  # I have it (bot/engine/handover.py), from the deps
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
    def outbox(self) -> Outbox:
        return self.deps.outbox

    @property
    def reports(self) -> ReportsPort | None:
        return self.deps.reports

    @property
    def dry_run(self) -> bool:
        return self.deps.dry_run

    async def refresh_card(self, run: Run, scope: str, at: tuple[str, str] | None = None) -> None:
        """Re-draw the step or gate card in place: the message ``at`` (channel, ts), else the tracked one."""
        kind = "gate" if self.deps.runbook.gate(scope) is not None else "step"
        where = at or await self.poster.where(card_key(kind, run.id, scope))
        if where is None:
            return
        if kind == "gate":
            message = await self.render.gate(run, scope)
        else:
            _, message = await self.render.step(run, scope)
        await self.poster.update(where[0], where[1], message, dry_run=run.dry_run)


async def first_look(state: AppState, channel: str) -> None:
    """What nearly every request reads first, in one transaction instead of two: the channel's run
    and the delegations behind the sender's roles (each handed once to its first reader)."""
    if not channel or current_delivery() is None:
        return
    run, values = await state.deps.deliveries.first_look(channel, (delegation.KEY,))
    keep_first_look(channel, run, values)


def delivery_key(body: dict[str, Any]) -> str | None:
    """What names one Slack delivery of a request: Slack sends the same body again when it retries.

    A dialog submission is its view as submitted (id and hash: a double submit is one delivery);
    anything else its trigger id, unique per command and click, the same in a retry over HTTP and
    in a redelivered Socket Mode envelope."""
    view = body.get("view")
    if body.get("type") == "view_submission" and isinstance(view, dict) and view.get("id") and view.get("hash"):
        return f"view:{view['id']}:{view['hash']}"
    trigger = body.get("trigger_id")
    return f"trigger:{trigger}" if trigger else None


@asynccontextmanager
async def answered(
    state: AppState, channel: str, user: str, what: str, delivery: str | None = None
) -> AsyncIterator[None]:
    """Run a handler's work as the Slack delivery ``delivery`` (else the one around it); a refusal
    becomes an ephemeral sentence (and an audit entry, unless the engine wrote one), a delivery
    handled before gets its first answer again, anything else a logged error id."""
    with handling(delivery, user) as current:
        try:
            yield
        except AlreadyHandled as handled:
            await _again(state, channel, user, handled)
        except Refused as refused:
            await _refused(state, channel, user, what, refused)
        except AlertNotFound as gone:
            await state.poster.say(channel, user, str(gone), dry_run=state.dry_run)
        except StoreUnavailable:  # the outbox is a table too: answered without it (bot/slack/delivery/outage.py)
            raise
        except Exception:
            if await _failed_as_a_redelivery(state, channel, user):
                return
            error_id = uuid.uuid4().hex[:8]
            log.exception("slack handler failed", what=what, error_id=error_id, channel=channel, user=user)
            await state.poster.say(
                channel,
                user,
                f"Something went wrong while handling {what}; nothing further was changed. "
                f"The error was logged with id {error_id}; tell the bot's maintainers.",
                dry_run=state.dry_run,
            )
        finally:
            if delivery is not None:
                await _keep_answer(state, current)


async def _refused(state: AppState, channel: str, user: str, what: str, refused: Refused) -> None:
    """The refusal said; its audit entry, the delivery's claim with this answer, and the reply's
    outbox row are one commit (the reply is staged before the audit writes, bot/store/deliveries.py)."""
    reply = await state.poster.stage_say(channel, user, refused.message, dry_run=state.dry_run)
    try:
        if not refused.audited:
            await _audit_refusal(state, channel, user, what, refused)
    except AlreadyHandled as handled:  # the refusal of a redelivery: its first answer is the one to give
        state.poster.unstage(reply)
        await _again(state, channel, user, handled)
        return
    await state.poster.send_staged(reply)


async def _failed_as_a_redelivery(state: AppState, channel: str, user: str) -> bool:
    """A redelivery racing its first delivery can fail before its claim (a unique row the first
    wrote): when another delivery has the request, that one's answer is the one to give."""
    try:
        handled = await state.deps.deliveries.handled_elsewhere()
    except Exception:  # the database is the trouble: the usual error answer follows
        log.exception("could not tell whether a failed request was a redelivery")
        return False
    if handled is None:
        return False
    log.warning("a redelivered Slack request failed while its first delivery was being worked", key=handled.key)
    await _again(state, channel, user, handled)
    return True


async def _again(state: AppState, channel: str, user: str, handled: AlreadyHandled) -> None:
    log.info("a redelivered Slack request was answered again, not worked again", key=handled.key)
    text = handled.again(state.deps.rollout.zone)
    await state.poster.say(channel, user, text, dry_run=state.dry_run)


async def _keep_answer(state: AppState, delivery: Delivery | None) -> None:
    """The delivery's first answer, for its redeliveries; a failure to keep it only loses that."""
    if delivery is None or not delivery.owned or delivery.answer is None or delivery.kept == delivery.answer:
        return  # nothing to keep, or kept already (with the claim, or with the reply's outbox row)
    try:
        await state.deps.deliveries.delivery_answered(delivery.key, delivery.answer)
    except Exception:
        log.exception("the first answer of a Slack delivery was not kept", key=delivery.key)


async def _audit_refusal(state: AppState, channel: str, user: str, what: str, refused: Refused) -> None:
    """A refusal made in the chat layer (an unknown runbook, a stale card) is on the record too."""
    try:
        known = current_delivery()
        actor = known.actor if known is not None and known.actor is not None else await state.directory.actor(user)
        await state.deps.rollout.record_refusal(channel, actor, what, refused.message)
        refused.audited = True
    except AlreadyHandled:
        raise
    except Exception:  # the refusal is still said; a failed audit write is logged, not shown
        log.exception("refusal not audited", what=what, channel=channel, user=user)
