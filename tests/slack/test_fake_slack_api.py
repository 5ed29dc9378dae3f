"""The real slack_sdk AsyncWebClient against the fake Web API on an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_async_handlers
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.slack.blocks import help_message


class NoJitter:
    """Stands in for the random module in slack_sdk's retry handler, so Retry-After: 0 waits 0 s."""

    @staticmethod
    def random() -> float:
        return 0.0


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    workspace = FakeSlackWorkspace(
        users={"U0LEE": {"name": "lee", "real_name": "Lee Park"}},
        usergroups={"S0ONCALL": ["U0LEE", "U0KIM"]},
        channels={"C0ROLLOUT": "week17-rollout"},
    )
    async with FakeSlackApi(workspace) as fake:
        yield fake


def client(api: FakeSlackApi, **kwargs: object) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=api.base_url, **kwargs)


async def test_the_fake_listens_only_on_loopback(api: FakeSlackApi) -> None:
    assert api.base_url.startswith("http://127.0.0.1:") and api.port > 0


async def test_auth_test_answers_the_bot_identity(api: FakeSlackApi) -> None:
    response = await client(api).auth_test()
    assert (response["team_id"], response["user_id"], response["bot_id"]) == ("T0ION", "U0IONBOT", "B0IONBOT")
    assert api.call_count("auth.test") == 1


async def test_messages_get_a_ts_and_can_be_updated(api: FakeSlackApi) -> None:
    web = client(api)
    card = help_message()
    posted = await web.chat_postMessage(channel="C0ROLLOUT", **card.payload())
    reply = await web.chat_postMessage(channel="C0ROLLOUT", text="progress", thread_ts=posted["ts"])
    assert posted["ts"] != reply["ts"]
    await web.chat_update(channel="C0ROLLOUT", ts=reply["ts"], text="done", blocks=[])
    assert api.last("chat.postMessage") == {
        "channel": "C0ROLLOUT",
        "text": "progress",
        "thread_ts": posted["ts"],
    }
    assert api.calls("chat.postMessage")[0]["blocks"] == card.blocks
    assert api.messages[("C0ROLLOUT", reply["ts"])]["text"] == "done"
    with pytest.raises(SlackApiError, match="message_not_found"):
        await web.chat_update(channel="C0ROLLOUT", ts="1.2", text="x")


async def test_ephemeral_messages_and_views_are_recorded(api: FakeSlackApi) -> None:
    web = client(api)
    await web.chat_postEphemeral(channel="C0ROLLOUT", user="U0LEE", text="only you")
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Confirm run"}, "blocks": []}
    opened = await web.views_open(trigger_id="trig-1", view=modal)
    await web.views_update(view_id=opened["view"]["id"], view=modal)
    await web.views_publish(user_id="U0LEE", view={"type": "home", "blocks": []})
    assert api.last("views.open") == {"trigger_id": "trig-1", "view": modal}
    assert api.call_count("views.update") == 1
    assert api.last("views.publish") == {"user_id": "U0LEE", "view": {"type": "home", "blocks": []}}
    assert api.last("chat.postEphemeral") == {"channel": "C0ROLLOUT", "user": "U0LEE", "text": "only you"}


async def test_files_upload_v2_goes_through_all_three_steps(api: FakeSlackApi) -> None:
    chart = b"\x89PNG fake chart bytes"
    response = await client(api).files_upload_v2(
        channel="C0ROLLOUT",
        content=chart,
        filename="day3.png",
        title="Day 3 metrics",
        initial_comment="Day 3",
    )
    assert response["file"]["title"] == "Day 3 metrics"
    assert list(api.uploads.values()) == [chart]
    assert api.last("files.getUploadURLExternal") == {"filename": "day3.png", "length": str(len(chart))}
    completed = api.last("files.completeUploadExternal")
    assert completed is not None and completed["channel_id"] == "C0ROLLOUT"


async def test_workspace_lookups_answer_from_the_configured_workspace(api: FakeSlackApi) -> None:
    web = client(api)
    assert (await web.conversations_info(channel="C0ROLLOUT"))["channel"]["name"] == "week17-rollout"
    assert (await web.users_info(user="U0LEE"))["user"]["profile"]["real_name"] == "Lee Park"
    assert (await web.usergroups_users_list(usergroup="S0ONCALL"))["users"] == ["U0LEE", "U0KIM"]
    with pytest.raises(SlackApiError, match="user_not_found"):
        await web.users_info(user="U0NOBODY")


async def test_a_rate_limited_post_is_retried_after_retry_after_and_succeeds(
    api: FakeSlackApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(builtin_async_handlers, "random", NoJitter)
    web = client(api, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
    api.rate_limit("chat.postMessage", times=2, retry_after=0)
    posted = await web.chat_postMessage(channel="C0ROLLOUT", text="report")
    assert posted["ok"]
    assert api.call_count("chat.postMessage") == 3
    assert len(api.calls("chat.postMessage")) == 1  # only the successful attempt was answered


async def test_without_a_retry_handler_a_429_surfaces_with_its_retry_after(api: FakeSlackApi) -> None:
    api.rate_limit("chat.postMessage", times=1, retry_after=30)
    with pytest.raises(SlackApiError) as raised:
        await client(api).chat_postMessage(channel="C0ROLLOUT", text="report")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "30"
    assert (await client(api).chat_postMessage(channel="C0ROLLOUT", text="again"))["ok"]


async def test_server_errors_are_injected_and_retried(api: FakeSlackApi) -> None:
    handler = AsyncServerErrorRetryHandler(
        max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(fixed_internal=0)
    )
    api.fail("views.publish", times=1, status=503)
    response = await client(api, retry_handlers=[handler]).views_publish(user_id="U0LEE", view={"type": "home"})
    assert response["ok"] and api.call_count("views.publish") == 2
    api.fail("chat.update", times=1, status=500)
    with pytest.raises(SlackApiError):
        await client(api).chat_update(channel="C0ROLLOUT", ts="1.1", text="x")
