"""A person typed by name (`/ion delegate lead lou friday`) found through the fake Slack Web API:
one match is that person, several or none are refused saying what to do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import VirtualClock
from bot.engine.errors import Refused
from bot.engine.permissions import Policy
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.slack.command_types import PersonRef
from bot.slack.identity import Directory
from tests.slack.conftest import AT

USERS: dict[str, dict[str, Any]] = {
    "U0LEE": {"name": "lee", "real_name": "Lee Park"},
    "U0LOU": {"name": "lou", "real_name": "Lou Reed"},
    "U0LOU2": {"name": "lou.b", "display_name": "Lou", "real_name": "Lou Barlow"},
    "U0DANA": {"name": "dana", "real_name": "Dana Scully"},
    "U0OLD": {"name": "maria", "deleted": True},
    "U0MARIA": {"name": "maria", "real_name": "Maria Diaz"},
    "U0BOT": {"name": "sam", "is_bot": True},
    "U0SAM": {"name": "sam.k", "real_name": "Sam Kim"},
}
POLICY = Policy.build({"lead": ["U0LEE"], "member": ["U0DANA", "U0SAM"]})


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackApi]:
    async with FakeSlackApi(FakeSlackWorkspace(users=dict(USERS))) as fake:
        yield fake


def directory(api: FakeSlackApi) -> Directory:
    client = AsyncWebClient(token="xoxb-test", base_url=api.base_url)
    client.retry_handlers = []
    return Directory(POLICY, client, VirtualClock(AT))


async def test_a_name_exactly_one_member_has_is_that_member_whatever_its_case_or_at(api: FakeSlackApi) -> None:
    found = directory(api)
    assert await found.user_id(PersonRef(name="dana")) == "U0DANA"
    assert await found.user_id(PersonRef(name="@Dana")) == "U0DANA"
    assert await found.user_id(PersonRef(name="lou.b")) == "U0LOU2"  # the username


async def test_a_picked_mention_is_taken_as_it_is_without_asking_slack(api: FakeSlackApi) -> None:
    assert await directory(api).user_id(PersonRef(user_id="U0LOU")) == "U0LOU"
    assert api.call_count("users.list") == 0


async def test_a_name_several_members_share_is_refused_listing_each_with_their_id(api: FakeSlackApi) -> None:
    with pytest.raises(Refused) as refused:
        await directory(api).user_id(PersonRef(name="lou"))

    assert refused.value.message == (
        "Several people are called 'lou': lou (U0LOU), lou.b (U0LOU2). Pick the one you mean from the @ menu, "
        "or give their user id. Nothing was changed."
    )


async def test_a_name_nobody_has_is_refused_saying_how_to_name_them(api: FakeSlackApi) -> None:
    with pytest.raises(Refused, match=r"Nobody in this workspace is called 'lu'\. Pick them from the @ menu"):
        await directory(api).user_id(PersonRef(name="lu"))


async def test_deactivated_people_and_bots_are_never_matched(api: FakeSlackApi) -> None:
    found = directory(api)
    assert await found.user_id(PersonRef(name="maria")) == "U0MARIA"
    with pytest.raises(Refused, match="Nobody in this workspace is called 'sam'"):
        await found.user_id(PersonRef(name="sam"))


async def test_members_are_read_across_every_page_slack_gives() -> None:
    users = {f"U{n:05d}": {"name": f"person{n}"} for n in range(450)}
    async with FakeSlackApi(FakeSlackWorkspace(users=users)) as api:
        assert await directory(api).user_id(PersonRef(name="person449")) == "U00449"
        assert api.call_count("users.list") == 3


async def test_when_slack_will_not_list_members_the_people_ion_roles_names_are_looked_up(api: FakeSlackApi) -> None:
    api.fail("users.list", times=2, status=403)
    found = directory(api)
    assert await found.user_id(PersonRef(name="sam.k")) == "U0SAM"
    with pytest.raises(Refused, match="Nobody in this workspace is called 'lou'"):  # lou is in no role
        await found.user_id(PersonRef(name="lou"))
