"""Never open by default: without a session the pages send a person to sign in and the data answers 401;
a forged or expired session is the same as none; another workspace's member and a member without a role
are refused; the whole Sign in with Slack round trip works against the fake Slack's OpenID Connect."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from bot.config import load_settings
from bot.engine.permissions import DEMO_TEAM
from bot.sim.slack_api import FakeSlackApi, FakeSlackWorkspace
from bot.web.sessions import SESSION_COOKIE, Signer
from bot.web.setup import web_gate
from tests.web.served import Served

SECRET = "s" * 40
OTHER_TEAM = "T0ELSEWHERE"


@pytest.fixture
def slack(served: Served) -> Iterator[FakeSlackApi]:
    users = {m.user_id: {"name": m.name, "real_name": m.name.title()} for m in DEMO_TEAM}
    users["U_NOROLE"] = {"name": "nora", "real_name": "Nora"}
    users["U_OTHER"] = {"name": "otto", "real_name": "Otto"}
    api = FakeSlackApi(FakeSlackWorkspace(users=users, other_teams={"U_OTHER": OTHER_TEAM}))
    served.call(api.start())
    assert served.bot is not None
    settings = load_settings(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_API_URL=api.base_url,
        SLACK_CLIENT_ID=api.workspace.client_id,
        SLACK_CLIENT_SECRET=api.workspace.client_secret,
        ION_WEB_SESSION_SECRET=SECRET,
        ION_TIMELINE_URL=served.base_url,
    )
    served.use_gate(web_gate(settings, served.bot.policy, served.clock))
    try:
        yield api
    finally:
        served.use_gate(served.deps.gate)
        served.call(api.stop())


def sign_in(served: Served, api: FakeSlackApi, user_id: str, path: str) -> requests.Response:
    """A browser's round trip: the page, Slack's authorize page (as ``user_id``), the callback, the page."""
    api.workspace.signing_in = user_id
    browser = requests.Session()
    response = browser.get(served.base_url + path, timeout=60)
    browser.close()
    return response


def test_without_a_session_a_page_sends_to_sign_in_and_the_data_answers_401(
    served: Served, slack: FakeSlackApi, run_id: str
) -> None:
    page = requests.get(f"{served.base_url}/runs/{run_id}", allow_redirects=False, timeout=60)
    assert page.status_code == 302 and page.headers["Location"].startswith("/auth/slack?next=")
    for data in (f"/runs/{run_id}/audit.csv", f"/runs/{run_id}/audit.jsonl", f"/runs/{run_id}/metrics/error_rate.json"):
        answer = requests.get(served.base_url + data, allow_redirects=False, timeout=60)
        assert answer.status_code == 401 and "Sign in with Slack" in answer.json()["error"]


def test_sign_in_goes_to_slacks_authorize_page_with_the_apps_client_and_scopes(
    served: Served, slack: FakeSlackApi
) -> None:
    start = requests.get(f"{served.base_url}/auth/slack?next=/runs", allow_redirects=False, timeout=60)
    assert start.status_code == 302
    target = urlsplit(start.headers["Location"])
    query = parse_qs(target.query)
    assert target.path == "/openid/connect/authorize" and target.port == slack.port
    assert query["client_id"] == [slack.workspace.client_id] and query["scope"] == ["openid,profile,email"]
    assert query["redirect_uri"] == [f"{served.base_url}/auth/slack/callback"] and query["state"][0]
    assert "HttpOnly" in start.headers["Set-Cookie"] and "SameSite=Lax" in start.headers["Set-Cookie"]


def test_a_member_with_a_role_signs_in_with_slack_and_sees_the_run(
    served: Served, slack: FakeSlackApi, run_id: str
) -> None:
    page = sign_in(served, slack, "U_LEAD", f"/runs/{run_id}")
    assert page.status_code == 200 and 'class="bar' in page.text
    assert page.url == f"{served.base_url}/runs/{run_id}"  # back where the person was going
    assert slack.call_count("openid.connect.token") == 1 and slack.call_count("openid.connect.userInfo") == 1


def test_a_member_of_another_workspace_is_refused_at_the_callback(
    served: Served, slack: FakeSlackApi, run_id: str
) -> None:
    page = sign_in(served, slack, "U_OTHER", f"/runs/{run_id}")
    assert page.status_code == 403 and "another Slack workspace" in page.text
    assert SESSION_COOKIE not in page.cookies


def test_a_workspace_member_without_a_role_is_refused_every_run(
    served: Served, slack: FakeSlackApi, run_id: str
) -> None:
    page = sign_in(served, slack, "U_NOROLE", f"/runs/{run_id}")
    assert page.status_code == 403 and "holds no role in this rollout" in page.text
    assert sign_in(served, slack, "U_NOROLE", "/runs").status_code == 403


def test_a_forged_or_expired_session_is_the_same_as_none(served: Served, slack: FakeSlackApi, run_id: str) -> None:
    now = served.clock.now()
    good = Signer(SECRET).session("U_LEAD", "lee", slack.workspace.team_id, now)
    assert requests.get(f"{served.base_url}/runs/{run_id}", cookies={SESSION_COOKIE: good}, timeout=60).ok
    body, mac = good.split(".")
    forged = {
        "altered": body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac,
        "another key": Signer("x" * 40).session("U_LEAD", "lee", slack.workspace.team_id, now),
        "expired": Signer(SECRET).session("U_LEAD", "lee", slack.workspace.team_id, now - timedelta(hours=13)),
        "garbage": "not-a-session",
    }
    for why, cookie in forged.items():
        page = requests.get(
            f"{served.base_url}/runs/{run_id}", cookies={SESSION_COOKIE: cookie}, allow_redirects=False, timeout=60
        )
        assert page.status_code == 302 and page.headers["Location"].startswith("/auth/slack"), why
        data = requests.get(f"{served.base_url}/runs/{run_id}/audit.csv", cookies={SESSION_COOKIE: cookie}, timeout=60)
        assert data.status_code == 401, why


def test_a_session_of_another_workspace_is_refused(served: Served, slack: FakeSlackApi, run_id: str) -> None:
    cookie = Signer(SECRET).session("U_LEAD", "lee", OTHER_TEAM, served.clock.now())
    page = requests.get(f"{served.base_url}/runs/{run_id}", cookies={SESSION_COOKIE: cookie}, timeout=60)
    assert page.status_code == 403 and "another Slack workspace" in page.text


def test_a_sign_in_callback_without_its_state_cookie_is_refused(served: Served, slack: FakeSlackApi) -> None:
    code = slack.issue_sign_in_code("U_LEAD")
    page = requests.get(f"{served.base_url}/auth/slack/callback?code={code}&state=guessed", timeout=60)
    assert page.status_code == 400 and "stale or was not started here" in page.text
    assert slack.call_count("openid.connect.token") == 0


def test_sign_in_chosen_but_not_set_up_shows_nothing_and_names_what_to_set(served: Served, run_id: str) -> None:
    assert served.bot is not None
    served.use_gate(web_gate(load_settings(SLACK_BOT_TOKEN="xoxb-test"), served.bot.policy, served.clock))
    try:
        page = requests.get(f"{served.base_url}/runs/{run_id}", timeout=60)
    finally:
        served.use_gate(served.deps.gate)
    assert page.status_code == 503
    assert "SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, ION_WEB_SESSION_SECRET, ION_TIMELINE_URL" in page.text
