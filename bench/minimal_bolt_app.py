"""The yardstick for the ack, answer and startup benchmarks: a Bolt AsyncApp that acks and, with
BENCH_REPLY=1, answers each slash command privately (chat.postEphemeral) after its ack, as a
bot must at the least.

Served exactly as ``ionbot serve`` serves its app (aiohttp AppRunner on ION_HOST:PORT, Bolt's
signature check, POST /slack/events and GET /healthz), so the difference between the two is
what the bot adds. It reads the same variables: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
SLACK_API_URL, ION_HOST, PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def build_app(token: str, signing_secret: str, api_url: str | None, *, reply: bool = False) -> AsyncApp:
    client = AsyncWebClient(token=token, base_url=api_url or AsyncWebClient.BASE_URL)
    app = AsyncApp(client=client, signing_secret=signing_secret)

    async def command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        if reply:
            text = f"You said `/ion {body.get('text', '')}`."
            await client.chat_postEphemeral(channel=body["channel_id"], user=body["user_id"], text=text)

    async def action(ack: AsyncAck) -> None:
        await ack()

    app.command("/ion")(command)
    app.action(re.compile("^ion:"))(action)
    return app


def web_app(app: AsyncApp) -> web.Application:
    served = web.Application()

    async def events(request: web.Request) -> web.Response:
        response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(response)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    served.router.add_post("/slack/events", events)
    served.router.add_get("/healthz", healthz)
    return served


async def serve() -> None:
    token, secret = os.environ.get("SLACK_BOT_TOKEN"), os.environ.get("SLACK_SIGNING_SECRET")
    if not token or not secret:
        raise SystemExit("The minimal Bolt app needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET; it did not start.")
    reply = os.environ.get("BENCH_REPLY") == "1"
    app = build_app(token, secret, os.environ.get("SLACK_API_URL"), reply=reply)
    runner = web.AppRunner(web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, os.environ.get("ION_HOST", "127.0.0.1"), int(os.environ.get("PORT", "3000")))
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> int:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
