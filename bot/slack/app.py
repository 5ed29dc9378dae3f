"""The Bolt app: listeners for `/ion`, the cards' buttons, the dialogs and App Home, wired to the bot.

``build_app`` is the one entry point: HTTP (server.py), Socket Mode and the console all
dispatch into the app it returns. ``state_of(app)`` gives the app's parts (outbox, reports hook).
"""

from __future__ import annotations

import logging
import re
import weakref
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.oncall.wiring import connect_oncall
from bot.slack.blocks.render import Renderer
from bot.slack.delivery.cards import Poster
from bot.slack.delivery.notifier import SlackNotifier
from bot.slack.delivery.outage import KNOWN_DOWN, answering, known_down, known_down_view, response_url, tell
from bot.slack.delivery.outbox import Outbox, with_retries
from bot.slack.identity import Directory
from bot.slack.listeners import AppState
from bot.slack.listeners.buttons import on_action
from bot.slack.listeners.commands import on_command
from bot.slack.listeners.flows import open_at_once, release
from bot.slack.listeners.home import on_home_opened
from bot.slack.listeners.modals import on_submission
from bot.slack.transport.edge import remember_signing_secret
from bot.slack.transport.ordering import command_order_key
from bot.slack.transport.work_queue import DEFAULT_WORKERS, WorkQueue

if TYPE_CHECKING:
    from bot.bootstrap import Bot

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
_STATES: weakref.WeakKeyDictionary[AsyncApp, AppState] = weakref.WeakKeyDictionary()
_QUEUES: weakref.WeakKeyDictionary[AsyncApp, WorkQueue] = weakref.WeakKeyDictionary()


def build_app(
    bot: Bot,
    client: AsyncWebClient,
    *,
    signing_secret: str | None,
    process_before_response: bool = False,
    workers: int = DEFAULT_WORKERS,
) -> AsyncApp:
    """The app for ``bot``; requests are verified when ``signing_secret`` is given.

    With ``process_before_response`` the listeners finish their work before dispatch returns
    (tests, the console); otherwise they ack first and Slack gets its answer at once, and the
    work after the ack runs in at most ``workers`` slots (commands of a channel in order).
    """
    with_retries(client)
    # Bolt always runs the listener inline: it returns right after ack(), handing the rest to the
    # work queue, so the answer needs no 10 ms polling for the ack and waits behind no one's work.
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret or "",
        request_verification_enabled=signing_secret is not None,
        process_before_response=True,
    )
    remember_signing_secret(app, signing_secret)  # the HTTP edge checks it on the raw bytes
    outbox = Outbox(bot.store, client, bot.clock)
    state = AppState(
        bot=bot,
        outbox=outbox,
        poster=Poster(outbox, bot.store, bot.settings.dry_run),
        directory=Directory(bot.policy, client, bot.clock),
        render=Renderer(bot),
    )
    _STATES[app] = state
    queue = WorkQueue(state.spawn, workers=workers, inline=process_before_response)
    _QUEUES[app] = queue

    # A command or click that may end in a confirm dialog opens it here, before the ack and outside
    # the queue: its trigger id lasts 3 s, and planning (behind the channel's commands) may not.
    # While the database is known to be out, the answer goes without it: in the ack's body for a
    # command, through the response_url for a click, in the dialog itself for a submitted dialog;
    # work that meets the outage later says so through the response_url (a dialog's response_urls).
    async def command(ack: AsyncAck, body: dict[str, Any], request: AsyncBoltRequest) -> None:
        if known_down(bot):
            await ack(text=KNOWN_DOWN, response_type="ephemeral")
            return
        dialog = None if _retried(request) else open_at_once(state, body)

        async def listener(acking: AsyncAck) -> None:
            try:
                async with answering(bot, body):
                    await on_command(state, acking, body)
            finally:
                await release(state, dialog)

        order_key = command_order_key(str(body.get("channel_id", "")), str(body.get("text", "")))
        await queue.dispatch(ack, listener, order_key=order_key)

    async def action(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], request: AsyncBoltRequest) -> None:
        if known_down(bot):
            await ack()
            state.spawn(tell(response_url(body), KNOWN_DOWN))
            return
        dialog = None if _retried(request) else open_at_once(state, body)

        async def listener(acking: AsyncAck) -> None:
            try:
                async with answering(bot, body):
                    await on_action(state, acking, body, action)
            finally:
                await release(state, dialog)

        await queue.dispatch(ack, listener)

    async def submission(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        if known_down(bot):  # the dialog itself says so: Slack shows the ack's view in its place
            await ack(response_action="update", view=known_down_view())
            return

        async def listener(acking: AsyncAck) -> None:
            async with answering(bot, body):
                await on_submission(state, acking, body, view)

        await queue.dispatch(ack, listener)

    async def closed(ack: AsyncAck) -> None:
        await ack()

    async def home(ack: AsyncAck, event: dict[str, Any]) -> None:
        async def listener(acking: AsyncAck) -> None:
            await acking()
            await on_home_opened(state, event)

        await queue.dispatch(ack, listener)

    app.command(COMMAND)(command)
    app.action(re.compile("^ion:"))(action)
    app.view_submission(re.compile("^ion:"))(submission)
    app.view_closed(re.compile("^ion:"))(closed)
    app.event("app_home_opened")(home)
    bot.events.subscribe(SlackNotifier(state))
    connect_oncall(state)
    return app


def _retried(request: AsyncBoltRequest) -> bool:
    """Slack sent this again (no ack seen in 3 s): its trigger id has expired, and its first
    delivery already opened whatever dialog it needed."""
    return bool(request.headers.get("x-slack-retry-num"))


def state_of(app: AsyncApp) -> AppState:
    """The parts of an app made by build_app: set ``state_of(app).reports`` to enable reports."""
    return _STATES[app]


def work_queue_of(app: AsyncApp) -> WorkQueue:
    """The queue that runs the app's listener work after each ack (how many are busy, its size)."""
    return _QUEUES[app]
