"""Sign in with Slack (OpenID Connect) in the fake Slack: the authorize page, the token, the user's claims.

A part of ``FakeSlackApi`` (bot/sim/slack_api.py) kept apart by topic: the browser's authorize page
signs in ``workspace.signing_in`` and goes back with a code; ``openid.connect.token`` trades a code
once, for the app's own client id and secret only; ``openid.connect.userInfo`` says who the token
is and which workspace (``workspace.other_teams`` puts someone in another one).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]


class FakeSignIn:
    workspace: Any  # FakeSlackWorkspace, set by FakeSlackApi

    _codes: dict[str, str]
    _user_tokens: dict[str, str]
    _oidc_ids = itertools.count(1)

    def _sign_ins(self) -> tuple[dict[str, str], dict[str, str]]:
        if not hasattr(self, "_codes"):
            self._codes, self._user_tokens = {}, {}
        return self._codes, self._user_tokens

    def issue_sign_in_code(self, user_id: str) -> str:
        """A code as Slack's authorize page hands the app after ``user_id`` signed in (good once)."""
        code = f"oidc-code-{next(self._oidc_ids)}"
        self._sign_ins()[0][code] = user_id
        return code

    async def _authorize(self, request: web.Request) -> web.Response:
        """Slack's authorize page, for a browser: signs in ``workspace.signing_in`` and goes back with a code."""
        query = request.query
        if query.get("client_id") != self.workspace.client_id or not query.get("redirect_uri"):
            return web.Response(status=400, text="invalid_client_id or missing redirect_uri")
        user = self.workspace.signing_in
        if user is None:
            return web.Response(status=403, text="nobody is signed in to Slack in this browser")
        code = self.issue_sign_in_code(user)
        separator = "&" if "?" in query["redirect_uri"] else "?"
        raise web.HTTPFound(f"{query['redirect_uri']}{separator}code={code}&state={query.get('state', '')}")

    def _m_openid_connect_token(self, payload: JSONDict, request: web.Request) -> JSONDict:
        w = self.workspace
        client = (payload.get("client_id"), payload.get("client_secret"))
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):  # slack_sdk sends the client's credentials as HTTP Basic auth
            with contextlib.suppress(ValueError):
                pair = base64.b64decode(basic.removeprefix("Basic ")).decode().split(":", 1)
                client = (pair[0], pair[1] if len(pair) > 1 else None)
        if client != (w.client_id, w.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        codes, tokens = self._sign_ins()
        user = codes.pop(str(payload.get("code", "")), None)
        if user is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxp-oidc-{next(self._oidc_ids)}"
        tokens[token] = user
        return {"ok": True, "access_token": token, "token_type": "Bearer", "id_token": "unsigned-in-the-fake"}

    def _m_openid_connect_userInfo(self, payload: JSONDict, request: web.Request) -> JSONDict:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        user_id = self._sign_ins()[1].get(token)
        if user_id is None:
            return {"ok": False, "error": "invalid_auth"}
        user = self.workspace.users.get(user_id, {})
        team = self.workspace.other_teams.get(user_id, self.workspace.team_id)
        return {
            "ok": True,
            "sub": user_id,
            "https://slack.com/user_id": user_id,
            "https://slack.com/team_id": team,
            "name": user.get("real_name") or user.get("name") or user_id,
            "given_name": user.get("name", ""),
            "email": user.get("email", f"{user_id.lower()}@example.test"),
        }

    def _m_users_lookupByEmail(self, payload: JSONDict, request: web.Request) -> JSONDict:
        email = str(payload.get("email", ""))
        for user_id, user in self.workspace.users.items():
            if user.get("email", f"{user_id.lower()}@example.test") == email:
                return {"ok": True, "user": {"id": user_id, **user}}
        return {"ok": False, "error": "users_not_found"}
