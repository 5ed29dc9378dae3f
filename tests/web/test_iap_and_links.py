"""Cloud Run behind IAP: the IAP JWT (ES256) verified with google-auth against keys served on 127.0.0.1;
and the links cards and reports carry into the timeline."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import crypt, jwt

from bot.engine.ports import Actor
from bot.web.access import Denied
from bot.web.iap import HEADER, ISSUER, IapGate
from bot.web.links import report_footer, run_link_block, step_link_block, step_url

AUDIENCE = "/projects/123/global/backendServices/456"
LEE = Actor("U_LEAD", "lee", frozenset({"lead"}))


def key_pair() -> tuple[str, str]:
    private = ec.generate_private_key(ec.SECP256R1())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_pem, public_pem


PRIVATE, PUBLIC = key_pair()
OTHER_PRIVATE, _ = key_pair()


def assertion(private: str = PRIVATE, **claims: object) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "email": "lee@example.test", "iat": now, "exp": now + 600, **claims}
    token: bytes = jwt.encode(crypt.ES256Signer.from_string(private, "k1"), payload)  # type: ignore[no-untyped-call]
    return token.decode()


@pytest.fixture
async def certs_url() -> AsyncIterator[str]:
    async def keys(request: web.Request) -> web.Response:
        return web.json_response({"k1": PUBLIC})

    app = web.Application()
    app.router.add_get("/keys", keys)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/keys"
    await runner.cleanup()


async def by_email(email: str) -> Actor | None:
    return LEE if email == "lee@example.test" else None


async def seen(gate: IapGate, token: str | None) -> Actor | Denied:
    headers = {HEADER: token} if token else {}
    return await gate.viewer(make_mocked_request("GET", "/runs", headers=headers))


async def test_a_valid_iap_assertion_is_the_slack_member_with_that_email(certs_url: str) -> None:
    assert await seen(IapGate(AUDIENCE, certs_url, by_email), assertion()) == LEE


@pytest.mark.parametrize(
    ("why", "token"),
    [
        ("no header", None),
        ("signed by another key", assertion(OTHER_PRIVATE)),
        ("another backend's audience", assertion(aud="/projects/123/global/backendServices/999")),
        ("expired", assertion(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)),
        ("not issued by IAP", assertion(iss="https://accounts.google.com")),
        ("not a token", "garbage"),
    ],
)
async def test_a_request_not_vouched_for_by_iap_is_refused_with_401(certs_url: str, why: str, token: str) -> None:
    answer = await seen(IapGate(AUDIENCE, certs_url, by_email), token)
    assert isinstance(answer, Denied) and answer.status == 401, why


async def test_an_iap_user_who_is_not_in_the_workspace_is_refused(certs_url: str) -> None:
    answer = await seen(IapGate(AUDIENCE, certs_url, by_email), assertion(email="stranger@example.test"))
    assert isinstance(answer, Denied) and answer.status == 403 and "stranger@example.test" in answer.message


def test_cards_and_reports_link_into_the_timeline_only_when_its_url_is_set() -> None:
    assert step_url("https://ion.example/", "r1", "day2.1") == "https://ion.example/runs/r1/steps/day2.1"
    block = step_link_block("https://ion.example", "r1", "day2.1")
    assert block is not None and "<https://ion.example/runs/r1/steps/day2.1|day2.1 in the timeline>" in str(block)
    assert report_footer("https://ion.example", "r1") == "<https://ion.example/runs/r1|Timeline of this run>"
    assert step_link_block(None, "r1", "day2.1") is None and report_footer(None, "r1") is None
    assert "<https://ion.example/runs/r1|Timeline of this run>" in str(run_link_block("https://ion.example", "r1"))
    assert "day2.1 in the timeline" in str(run_link_block("https://ion.example", "r1", "day2.1"))  # an alert's step
    assert run_link_block(None, "r1") is None
