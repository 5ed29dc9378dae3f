"""The Bolt app: listeners for `/ion`, the cards' buttons, the dialogs and App Home, wired to the
engine's use cases through one ``SlackDeps`` bundle (built by bot/bootstrap.py).

``build_app`` is the one entry point: HTTP (server.py), Socket Mode and the console all
dispatch into the ``IonApp`` it returns, which carries its own parts (``state``, ``queue``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.slack.blocks.render import Renderer
from bot.slack.delivery.cards import Poster
from bot.slack.delivery.notifier import SlackNotifier
from bot.slack.delivery.outage import KNOWN_DOWN, answering, known_down, known_down_view, response_url, tell
from bot.slack.delivery.outbox import with_retries
from bot.slack.deps import SlackDeps
from bot.slack.identity import Directory
from bot.slack.listeners import AppState
from bot.slack.listeners.buttons import on_action
from bot.slack.listeners.commands import on_command
from bot.slack.listeners.flows import open_at_once, release
from bot.slack.listeners.home import on_home_opened
from bot.slack.listeners.modals import on_submission
from bot.slack.transport.ordering import command_order_key
from bot.slack.transport.work_queue import DEFAULT_WORKERS, WorkQueue

log = structlog.get_logger(__name__)

COMMAND = "/ion"


class _ClientGivenOnPurpose(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN goes unused whenever a client is given. Ours is given on
    purpose (it carries the retry handlers and holds that very token), so the warning would only
    alarm whoever reads the start-up log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


_BOLT_LOG = logging.getLogger("slack_bolt.AsyncApp")
if not any(isinstance(f, _ClientGivenOnPurpose) for f in _BOLT_LOG.filters):
    _BOLT_LOG.addFilter(_ClientGivenOnPurpose())


class IonApp(AsyncApp):
    """Bolt's app with the parts build_app made for it: what its listeners share and its work queue.

    The HTTP edge (bot/slack/transport/edge.py) asks it for the signing secret and for a private
    word to a person, through its ``EdgeApp`` protocol, so the edge needs no import of this module.
    """

    def __init__(self, state: AppState, queue: WorkQueue, edge_secret: str | None, **bolt: Any) -> None:
        super().__init__(**bolt)
        self.state = state
        self.queue = queue
        self.edge_secret = edge_secret  # checked on the raw bytes by the HTTP edge

    def say_later(self, channel: str, user: str, text: str) -> None:
        """A private sentence sent after the ack (a declined click), best effort."""
        state = self.state

        async def say() -> None:
            try:
                await state.poster.say(channel, user, text, dry_run=state.dry_run)
            except Exception as exc:  # the refusal is best effort; the edge has logged its warning line
                log.warning("a refusal could not be sent", error=f"{type(exc).__name__}: {exc}", channel=channel)

        state.spawn(say())


def build_app(
    deps: SlackDeps,
    *,
    signing_secret: str | None,
    process_before_response: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> IonApp:
    """The app over ``deps``; requests are verified when ``signing_secret`` is given.

    With ``process_before_response`` the listeners finish their work before dispatch returns
    (tests, the console); otherwise they ack first and Slack gets its answer at once, and the
    work after the ack runs in at most ``workers`` slots (commands of a channel in order).
    """
    client = with_retries(deps.outbox.client)
    state = AppState(
        deps=deps,
        poster=Poster(deps.outbox, deps.cards, deps.dry_run),
        directory=Directory(deps.rollout.policy, client, deps.clock, delegations=deps.delegations),
        render=Renderer(deps),
        handover=deps.handover,
    )
    queue = WorkQueue(state.spawn, workers=workers, inline=process_before_response)
    # Bolt always runs the listener inline: it returns right after ack(), handing the rest to the
    # work queue, so the answer needs no 10 ms polling for the ack and waits behind no one's work.
    app = IonApp(
        state,
        queue,
        signing_secret,
        name="ionbot",  # given: without it Bolt names the app from inspect.stack(), which reads every frame's source
        client=client,
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=True,
    )
    listeners = _Listeners(state, queue)
    app.command(COMMAND)(listeners.command)
    app.action(re.compile("^ion:"))(listeners.action)
    app.view_submission(re.compile("^ion:"))(listeners.submission)
    app.view_closed(re.compile("^ion:"))(listeners.closed)
    app.event("app_home_opened")(listeners.home)
    deps.events.subscribe(SlackNotifier(state))
    return app


class _Listeners:
    """What each kind of request does before its ack, and the work it queues after.

    A command or click that may end in a confirm dialog opens it here, before the ack and outside
    the queue: its trigger id lasts 3 s, and planning (behind the channel's commands) may not.
    While the database is known to be out, the answer goes without it: in the ack's body for a
    command, through the response_url for a click, in the dialog itself for a submitted dialog;
    work that meets the outage later says so through the response_url (a dialog's response_urls).
    """

    def __init__(self, state: AppState, queue: WorkQueue) -> None:
        self.state = state
        self.queue = queue
        self.health = state.deps.health

    async def command(self, ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        state = self.state
        if known_down(self.health):
            await ack(text=KNOWN_DOWN, response_type="ephemeral")
            return
        dialog = None if _retried(request) else open_at_once(state, body)

        async def listener(acking: AsyncAck) -> None:
            try:
                async with answering(self.health, body):
                    await on_command(state, acking, body)
            finally:
                await release(state, dialog)

        order_key = command_order_key(str(body.get("channel_id", "")), str(body.get("text", "")))
        await self.queue.dispatch(ack, listener, order_key=order_key)

    async def action(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest
    ) -> None:
        state = self.state
        if known_down(self.health):
            await ack()
            state.spawn(tell(response_url(body), KNOWN_DOWN))
            return
        dialog = None if _retried(request) else open_at_once(state, body)

        async def listener(acking: AsyncAck) -> None:
            try:
                async with answering(self.health, body):
                    await on_action(state, acking, body, action)
            finally:
                await release(state, dialog)

        await self.queue.dispatch(ack, listener)

    async def submission(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        if known_down(self.health):  # the dialog itself says so: Slack shows the ack's view in its place
            await ack(response_action="update", view=known_down_view())
            return

        async def listener(acking: AsyncAck) -> None:
            async with answering(self.health, body):
                await on_submission(self.state, acking, body, view)

        await self.queue.dispatch(ack, listener)

    async def closed(self, ack: AsyncAck) -> None:
        await ack()

    async def home(self, ack: AsyncAck, event: dict[str, Any]) -> None:
        async def listener(acking: AsyncAck) -> None:
            await acking()
            await on_home_opened(self.state, event)

        await self.queue.dispatch(ack, listener)


def _retried(request: AsyncBoltRequest) -> bool:
    """Slack sent this again (no ack seen in 3 s): its trigger id has expired, and its first
    delivery already opened whatever dialog it needed."""
    return bool(request.headers.get("x-slack-retry-num"))


def state_of(app: IonApp) -> AppState:
    """The parts of an app made by build_app (outbox, poster, background tasks)."""
    return app.state


def work_queue_of(app: IonApp) -> WorkQueue:
    """The queue that runs the app's listener work after each ack (how many are busy, its size)."""
    return app.queue
