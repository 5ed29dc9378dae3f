"""Signed-cookie sessions: who signed in, in which workspace, until when; nothing stored server-side.

The cookie is ``base64(json).base64(hmac-sha256)``; a changed byte, another key or a past expiry
reads as "not signed in", so a forged or stale cookie is refused exactly like no cookie. Every
replica verifies with the same ION_WEB_SESSION_SECRET, so sessions survive restarts and scaling.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

SESSION_COOKIE = "ion_session"
STATE_COOKIE = "ion_signin"
SESSION_HOURS = 12


@dataclass(frozen=True)
class Viewer:
    """A signed-in person: their Slack user id, name and workspace, and when the session ends."""

    user_id: str
    name: str
    team_id: str
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and reads small JSON values; ``purpose`` keeps a sign-in state from passing as a session."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 32:
            raise ValueError(
                "ION_WEB_SESSION_SECRET must be at least 32 characters; generate one with `openssl rand -hex 32`."
            )
        self._key = hashlib.sha256(secret.encode()).digest()

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}:{body}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, value: dict[str, str | int]) -> str:
        body = _b64(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def read(self, purpose: str, token: str | None, now: datetime) -> dict[str, str | int] | None:
        """The value, or None when the token is missing, altered, signed for another purpose, or expired."""
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            value = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        if not isinstance(value, dict) or not isinstance(value.get("exp"), int) or value["exp"] <= now.timestamp():
            return None
        return value

    def session(self, viewer_id: str, name: str, team_id: str, now: datetime) -> str:
        expires = int((now + timedelta(hours=SESSION_HOURS)).timestamp())
        return self.sign("session", {"u": viewer_id, "n": name, "t": team_id, "exp": expires})

    def viewer(self, token: str | None, now: datetime) -> Viewer | None:
        value = self.read("session", token, now)
        if value is None:
            return None
        user, name, team = value.get("u"), value.get("n"), value.get("t")
        if not (isinstance(user, str) and isinstance(name, str) and isinstance(team, str)):
            return None
        return Viewer(user, name, team, datetime.fromtimestamp(int(value["exp"]), tz=now.tzinfo))
