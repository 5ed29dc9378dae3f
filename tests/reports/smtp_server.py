"""A real SMTP server (aiosmtpd) on 127.0.0.1, in the test's own event loop, that keeps what it receives.

``refuse_first`` answers the first N messages with a temporary failure (451), as a mail server
having a bad minute would; everything after is accepted and parsed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP


@dataclass
class Inbox:
    refuse_first: int = 0
    refused: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refused < self.refuse_first:
            self.refused += 1
            return "451 4.3.0 Mailbox busy, try again later"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


@asynccontextmanager
async def smtp_server(inbox: Inbox) -> AsyncIterator[int]:
    """Serve ``inbox`` on 127.0.0.1 (a free port, yielded) until the block ends."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(inbox, hostname="ion-test-mail"), "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()
