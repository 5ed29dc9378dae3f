"""On-call from the fake PagerDuty's oncalls, matched to Slack users by users.lookupByEmail on the
fake Slack: cached for its TTL, and ION_ROLES standing when PagerDuty fails or nobody matches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.clock import VirtualClock
from bot.engine.nudges import Person
from bot.engine.permissions import Policy
from bot.oncall.pagerduty import PagerDuty
from bot.oncall.roster import OnCallRoster, RolePeople
from bot.sim.pagerduty_api import ONCALLS, FakePagerDuty
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace

POLICY = Policy.build({"sre_oncall": ["U_SRE"], "lead": ["U_LEAD"]})


async def test_on_call_comes_from_pagerduty_by_email_is_cached_and_falls_back_to_ion_roles() -> None:
    clock = VirtualClock(datetime(2026, 11, 18, 8, 0, tzinfo=UTC))
    workspace = FakeSlackWorkspace(users={"U_OLGA": {"name": "olga", "email": "Olga@Example.com"}})
    fake_pd = FakePagerDuty()
    await fake_pd.start()
    try:
        async with FakeSlackApi(workspace) as slack_api:
            slack = AsyncWebClient(token="xoxb-test", base_url=slack_api.base_url)
            pagerduty = PagerDuty(clock, fake_pd.token, None, rest_url=fake_pd.base_url)
            people = RolePeople(POLICY, roster=OnCallRoster(pagerduty, slack, clock), schedule="PSCHED1")
            try:
                fake_pd.set_oncall("PSCHED1", "PUSER1", "Olga Ortiz", "olga@example.com")
                assert await people.members("sre_oncall") == [Person("U_OLGA", "olga")]
                assert await people.members("lead") == [Person("U_LEAD", "U_LEAD")]  # other roles: ION_ROLES

                fake_pd.set_oncall("PSCHED1", "PUSER2", "Nobody", "nobody@example.com")
                assert await people.members("sre_oncall") == [Person("U_OLGA", "olga")]  # cached
                assert fake_pd.attempts[ONCALLS] == 1
                await clock.advance(timedelta(minutes=6))
                assert await people.members("sre_oncall") == [Person("U_SRE", "U_SRE")]  # no Slack user matches

                fake_pd.set_oncall("PSCHED1", "PUSER1", "Olga Ortiz", "olga@example.com")
                fake_pd.fail(ONCALLS, times=1, status=500)
                await clock.advance(timedelta(minutes=6))
                assert await people.members("sre_oncall") == [Person("U_SRE", "U_SRE")]  # PagerDuty down
                await clock.advance(timedelta(minutes=1))
                fake_pd.rate_limit(ONCALLS, times=1)
                assert await people.members("sre_oncall") == [Person("U_SRE", "U_SRE")]
                assert await people.members("sre_oncall") == [Person("U_OLGA", "olga")]  # it answers again
                assert slack_api.call_count("users.lookupByEmail") == 2  # olga once (cached), nobody once
            finally:
                await pagerduty.close()
    finally:
        await fake_pd.stop()
