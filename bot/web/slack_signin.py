"""Sign in with Slack (OpenID Connect) for the timeline: only the installing workspace's members.

/auth/slack sends the browser to Slack's authorize page with a state bound to a signed cookie;
/auth/slack/callback trades the code (``openid.connect.token``), reads who it is
(``openid.connect.userInfo``), refuses another workspace's member, and sets the session cookie.
Roles are resolved on every page (bot/slack/identity.py caches them), so a person removed
from ION_ROLES loses the timeline at once, not at the session's end.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import urlsplit

import structlog
from aiohttp import ClientError, web
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth import OpenIDConnectAuthorizeUrlGenerator
from slack_sdk.web.async_client import AsyncWebClient

from bot.engine.ports import Actor, Clock
from bot.web.access import Denied, Page, safe_next, sign_in_link
from bot.web.sessions import SESSION_COOKIE, SESSION_HOURS, STATE_COOKIE, Signer

log = structlog.get_logger(__name__)

TEAM_CLAIM = "https://slack.com/team_id"
USER_CLAIM = "https://slack.com/user_id"
SCOPES = ("openid", "profile", "email")
SIGN_IN_MINUTES = 10
ANOTHER_WORKSPACE = (
    "You signed in with another Slack workspace; only members of the one running ION may see this timeline."
)

ResolveActor = Callable[[str, str], Awaitable[Actor]]
TeamId = Callable[[], Awaitable[str]]


def authorize_url(api_url: str | None) -> str:
    """Slack's authorize page beside its Web API (https://slack.com/api/ -> https://slack.com/openid/...)."""
    parts = urlsplit(api_url or "https://slack.com/api/")
    return f"{parts.scheme}://{parts.netloc}/openid/connect/authorize"


class SlackSignIn:
    """The gate of `ionbot serve`'s timeline when ION_WEB_AUTH=slack."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        base_url: str,
        signer: Signer,
        clock: Clock,
        team_id: TeamId,
        resolve: ResolveActor,
        api_url: str | None = None,
        secure_cookies: bool = True,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = base_url.rstrip("/") + "/auth/slack/callback"
        self.signer = signer
        self.clock = clock
        self.team_id = team_id
        self.resolve = resolve
        self.api_url = api_url
        self.secure = secure_cookies
        self.urls = OpenIDConnectAuthorizeUrlGenerator(
            client_id=client_id,
            redirect_uri=self.redirect_uri,
            scopes=list(SCOPES),
            authorization_url=authorize_url(api_url),
        )

    async def viewer(self, request: web.Request) -> Actor | Denied:
        viewer = self.signer.viewer(request.cookies.get(SESSION_COOKIE), self.clock.now())
        if viewer is None:
            return Denied(401, "Sign in with Slack to see the rollout timeline.", sign_in_link(request))
        if viewer.team_id != await self.team_id():
            return Denied(403, "This session belongs to another Slack workspace; sign in with the one running ION.")
        return await self.resolve(viewer.user_id, viewer.name)

    def pages(self) -> Mapping[str, Page]:
        return {"/auth/slack": self.start, "/auth/slack/callback": self.callback, "/auth/signout": self.sign_out}

    async def start(self, request: web.Request) -> web.Response:
        state = secrets.token_urlsafe(24)
        expires = int(self.clock.now().timestamp()) + SIGN_IN_MINUTES * 60
        cookie = self.signer.sign("state", {"s": state, "next": safe_next(request.query.get("next")), "exp": expires})
        response = web.HTTPFound(self.urls.generate(state=state, nonce=secrets.token_urlsafe(16)))
        self._set(response, STATE_COOKIE, cookie, SIGN_IN_MINUTES * 60)
        raise response

    async def callback(self, request: web.Request) -> web.Response:
        pending = self.signer.read("state", request.cookies.get(STATE_COOKIE), self.clock.now())
        if pending is None or pending.get("s") != request.query.get("state"):
            return _page(400, "This sign-in link is stale or was not started here; open the timeline, sign in again.")
        if "error" in request.query or not request.query.get("code"):
            refused = request.query.get("error", "no code")
            return _page(403, f"Slack did not sign you in ({refused}); nothing was shown.")
        claims = await self._claims(request.query["code"])
        if isinstance(claims, str):
            return _page(502, claims)
        team, user = str(claims.get(TEAM_CLAIM, "")), str(claims.get(USER_CLAIM, ""))
        if team != await self.team_id():
            log.info("timeline sign-in refused: another workspace", team=team, user=user)
            return _page(403, ANOTHER_WORKSPACE)
        name = str(claims.get("name") or claims.get("given_name") or user)
        response = web.HTTPFound(safe_next(str(pending.get("next"))))
        token = self.signer.session(user, name, team, self.clock.now())
        self._set(response, SESSION_COOKIE, token, SESSION_HOURS * 3600)
        response.del_cookie(STATE_COOKIE, path="/")
        raise response

    async def sign_out(self, request: web.Request) -> web.Response:
        response = _page(200, "You are signed out of the rollout timeline.")
        response.del_cookie(SESSION_COOKIE, path="/")
        return response

    async def _claims(self, code: str) -> dict[str, object] | str:
        """Who the code signs in (openid.connect.userInfo), or a sentence on why Slack could not say."""
        client = AsyncWebClient(base_url=self.api_url or AsyncWebClient.BASE_URL)
        try:
            tokens = await client.openid_connect_token(
                client_id=self.client_id, client_secret=self.client_secret, code=code, redirect_uri=self.redirect_uri
            )
            user_client = AsyncWebClient(token=str(tokens["access_token"]), base_url=client.base_url)
            info = await user_client.openid_connect_userInfo()
        except SlackApiError as error:
            return f"Slack refused the sign-in ({error.response.get('error')}); try again from the timeline."
        except (ClientError, TimeoutError, OSError) as error:
            return f"Slack could not be reached to finish the sign-in ({type(error).__name__}); try again shortly."
        return dict(info.data) if isinstance(info.data, dict) else {}

    def _set(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        """HttpOnly (no script reads it), Secure over https, SameSite=Lax (sent when following a link)."""
        response.set_cookie(name, value, max_age=max_age, httponly=True, secure=self.secure, samesite="Lax", path="/")


def _page(status: int, sentence: str) -> web.Response:
    from bot.web.render import message_page

    return message_page(status, sentence)
