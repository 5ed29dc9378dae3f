"""Cloud Run behind Identity-Aware Proxy: trust the IAP JWT, verified with google-auth, nothing else.

IAP signs every request it lets through (header ``x-goog-iap-jwt-assertion``, ES256); the
signature, the audience (this backend) and the issuer are checked against IAP's public keys,
fetched over HTTPS and kept for an hour. The verified email is looked up in Slack
(``users.lookupByEmail``) so the same roles apply as in the channel; a request that did not come
through IAP (no header, a forged or expired token) is refused with 401.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping

import aiohttp
import structlog
from aiohttp import web

from bot.engine.ports import Actor
from bot.web.access import Denied, Page

log = structlog.get_logger(__name__)

HEADER = "x-goog-iap-jwt-assertion"
ISSUER = "https://cloud.google.com/iap"
CERTS_TTL_SECONDS = 3600.0

ActorByEmail = Callable[[str], Awaitable[Actor | None]]


class IapGate:
    def __init__(self, audience: str, certs_url: str, actor_by_email: ActorByEmail) -> None:
        self.audience = audience
        self.certs_url = certs_url
        self.actor_by_email = actor_by_email
        self._certs: tuple[float, dict[str, str]] | None = None

    async def viewer(self, request: web.Request) -> Actor | Denied:
        token = request.headers.get(HEADER)
        if not token:
            return Denied(401, "This timeline is served behind Identity-Aware Proxy; open it through its IAP address.")
        try:
            certs = await self._keys()
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("IAP keys unreadable", url=self.certs_url, error=str(error))
            return Denied(503, "IAP's public keys could not be read, so no sign-in can be checked; try again shortly.")
        # Imported here: google-auth (and its cryptography) is for the first IAP page, not for answering Slack.
        from google.auth import exceptions as auth_errors
        from google.auth import jwt

        try:
            claims = jwt.decode(token, certs=certs, audience=self.audience)  # type: ignore[no-untyped-call]
        except (ValueError, auth_errors.GoogleAuthError) as error:
            log.info("IAP assertion refused", error=str(error))
            return Denied(
                401, "The IAP assertion is not valid (signature, audience or expiry); sign in again through IAP."
            )
        if claims.get("iss") != ISSUER or not claims.get("email"):
            return Denied(401, "The IAP assertion was not issued by IAP for a person; sign in again through IAP.")
        email = str(claims["email"]).removeprefix("accounts.google.com:")
        actor = await self.actor_by_email(email)
        if actor is None:
            return Denied(
                403, f"{email} is not a member of the Slack workspace running ION, so its timeline is not shown."
            )
        return actor

    def pages(self) -> Mapping[str, Page]:
        return {}

    async def _keys(self) -> dict[str, str]:
        if self._certs is not None and time.monotonic() - self._certs[0] < CERTS_TTL_SECONDS:
            return self._certs[1]
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(self.certs_url) as response:
            response.raise_for_status()
            keys = await response.json(content_type=None)
        if not isinstance(keys, dict) or not keys:
            raise ValueError("the key document is not a map of key id to PEM")
        self._certs = (time.monotonic(), {str(k): str(v) for k, v in keys.items()})
        return self._certs[1]
