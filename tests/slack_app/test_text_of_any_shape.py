"""Text of any shape (NUL, a lone surrogate, 40 KB) typed into `/ion`, carried by a click or typed in
a dialog is answered, stored and echoed safely, on SQLite and on PostgreSQL (where asyncpg refused
a NUL and the reply was lost). Only the person's part of a message is escaped; every message the
bot sends stays inside Slack's limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.bootstrap import build, slack_app
from bot.config import Settings
from bot.engine.clock import VirtualClock
from bot.safe_text import REPLACEMENT, clean
from bot.sim.slack_api import FakeSlackApi
from bot.slack.app import state_of
from bot.slack.blocks.actions import ActionValue, Verb, action_id
from bot.slack.blocks.limits import validate_message
from bot.slack.blocks.reason_modal import REASON_BLOCK, REASON_INPUT
from bot.slack.server import make_web_app, start_site
from tests.e2e.databases import BACKENDS, Databases
from tests.slack_app.conftest import CHANNEL, ROLES, RUNBOOK, SECRET, START, Slack, fast_client, started
from tests.slack_app.test_malformed_requests import signed_bytes

TEXTS = {
    "a NUL": "checkout\x00down",
    "a lone surrogate": "checkout\ud800down",
    "40 KB": "checkout <!channel> *down* " + "x" * 40_000 + "\x00",
}


@pytest.fixture(scope="module", params=BACKENDS)
def databases(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    made = Databases(request.param, tmp_path_factory.mktemp(f"text-{request.param}"))
    try:
        yield made
    finally:
        made.drop_all()


@pytest.fixture
async def slack(databases: Databases, api: FakeSlackApi, tmp_path: Path) -> AsyncIterator[Slack]:
    settings = Settings(database_url=databases.new(), runbook=RUNBOOK, roles=ROLES, cloud="sim")
    bot = await build(settings, clock=VirtualClock(START))
    app = slack_app(bot, fast_client(api), signing_secret=SECRET, process_before_response=True)

    async def ready() -> bool:
        return True

    runner, port = await start_site(make_web_app(app, ready), "127.0.0.1", 0)
    try:
        async with aiohttp.ClientSession() as http:
            yield Slack(bot, api, app, f"http://127.0.0.1:{port}", http)
    finally:
        await state_of(app).settle()
        await runner.cleanup()
        await bot.close()


async def command(slack: Slack, text: str) -> int:
    """``/ion text`` as Slack's form would carry it: a lone surrogate as its (invalid) UTF-8 bytes."""
    fields = {"command": "/ion", "text": text, "user_id": "U0LEE", "user_name": "lee", "channel_id": CHANNEL}
    body = urlencode({**fields, "trigger_id": "trigger-U0LEE"}, errors="surrogatepass").encode()
    async with slack.http.post(slack.url + "/slack/events", data=body, headers=signed_bytes(body)) as response:
        return response.status


def as_read(text: str) -> str:
    """What the bot reads from such a form: invalid UTF-8 becomes U+FFFD, then NULs are cleaned."""
    return clean(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))


def within_limits(slack: Slack) -> None:
    for call in slack.api.calls("chat.postMessage") + slack.api.calls("chat.postEphemeral"):
        assert validate_message(call.get("blocks") or []) == [], call.get("text", "")[:200]
        assert "\x00" not in json.dumps(call)


@pytest.mark.parametrize("text", TEXTS.values(), ids=list(TEXTS))
async def test_an_incident_of_any_text_is_declared_stored_and_posted_with_only_its_words_escaped(
    slack: Slack, text: str
) -> None:
    await started(slack)
    assert await command(slack, f"incident {text}") == 200
    await slack.state.settle()
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    [incident] = await slack.bot.store.incidents(run.id)
    assert incident.text == as_read(text).strip() and REPLACEMENT in incident.text
    alert = next(p for p in slack.posted() if "Incident" in str(p.get("text")))
    dumped = json.dumps(alert)
    assert "<!channel>" not in dumped, dumped[max(0, dumped.find("<!channel>") - 300) : dumped.find("<!channel>") + 40]
    assert "<!subteam^S0ONCALL>" in str(alert["text"])  # ours kept
    assert any(e.what.startswith("incident") or "incident" in e.what for e in await slack.bot.store.audit(run.id))
    within_limits(slack)


@pytest.mark.parametrize("text", TEXTS.values(), ids=list(TEXTS))
async def test_a_step_id_of_any_text_is_answered_privately(slack: Slack, text: str) -> None:
    await started(slack)
    assert await command(slack, f"step {text}") == 200
    replies = slack.ephemerals("U0LEE")
    assert len(replies) == 2, replies
    assert "Nothing was changed" in replies[-1] and "/ion step ID" in replies[-1], replies[-1][:300]
    assert len(replies[-1]) < 4000  # the person's text is cut, not the sentence around it
    within_limits(slack)


@pytest.mark.parametrize("text", TEXTS.values(), ids=list(TEXTS))
async def test_a_click_whose_value_holds_any_text_is_refused_with_a_sentence(slack: Slack, text: str) -> None:
    await started(slack)
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    value = json.dumps({"run": run.id, "step": text, "env": "staging", "card_version": 0})
    action = {"action_id": "ion:approve:staging", "value": value, "block_id": "b"}
    status, _ = await slack.interact(
        {
            "type": "block_actions",
            "user": {"id": "U0LEE", "username": "lee"},
            "channel": {"id": CHANNEL},
            "trigger_id": "trigger-U0LEE",
            "actions": [action],
        }
    )
    assert status == 200
    await slack.state.settle()
    assert slack.ephemerals("U0LEE")[1:], "the click got no answer"
    within_limits(slack)


@pytest.mark.parametrize("text", TEXTS.values(), ids=list(TEXTS))
async def test_a_reason_of_any_text_typed_in_the_dialog_is_stored(slack: Slack, text: str) -> None:
    await started(slack)
    run = await slack.bot.store.open_run(CHANNEL)
    assert run is not None
    meta = ActionValue(run=run.id, step="day1.1", env="staging", channel=CHANNEL)
    view: dict[str, Any] = {"type": "modal", "callback_id": action_id(Verb.REJECT), "private_metadata": meta.encode()}
    values = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": text}}}
    status, _ = await slack.submit(view, values, user="U0MARIA")
    assert status == 200
    await slack.state.settle()
    stored = [e for e in await slack.bot.store.audit(run.id) if clean(text)[:100] in str(e.detail) + str(e.after)]
    assert stored, [(e.what, str(e.detail)[:80]) for e in await slack.bot.store.audit(run.id)]
    assert all(REPLACEMENT in str(e.detail) + str(e.after) for e in stored)
    within_limits(slack)
