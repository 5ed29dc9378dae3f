"""The reports by email: the seed's "Daily Reports: Email each day at 5 PM".

A report becomes one multipart message: a plain-text part (the Slack text) and an HTML part with
the day's chart inline (``cid:``). ``SmtpMailer`` sends it with aiosmtplib; ``MaildirMailer`` (the
embedded default of the console and ``ionbot simulate``) writes it to a local maildir, so a demo
never needs a mail server. Which one, and to whom, comes from the settings (ION_SMTP_*,
ION_REPORT_EMAIL_TO) or the runbook (``schedule.report_email_to``).
"""

from __future__ import annotations

import asyncio
import html
import mailbox
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.config import Settings

CHART_CID = "chart"


class Mailer(Protocol):
    """Where report emails go; ``describe`` names it in notes ("SMTP mail.example.com:587")."""

    def describe(self) -> str: ...

    async def send(self, message: EmailMessage) -> None:
        """Deliver ``message`` or raise; the caller retries and tells the team."""
        ...


@dataclass(frozen=True)
class SmtpMailer:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: str = "starttls"  # "starttls" | "tls" | "none"
    timeout: float = 30.0

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    async def send(self, message: EmailMessage) -> None:
        import aiosmtplib  # here: most bots never send mail, and a starting one must answer first

        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
        )


@dataclass(frozen=True)
class MaildirMailer:
    path: Path

    def describe(self) -> str:
        return f"the maildir {self.path}"

    def _add(self, message: EmailMessage) -> None:
        box = mailbox.Maildir(str(self.path), create=True)
        box.add(message)

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._add, message)


def mailer_from_settings(settings: Settings, files_dir: Path | None = None) -> Mailer | None:
    """SMTP when ION_SMTP_HOST is set; else a maildir (ION_REPORT_MAILDIR, or ``files_dir``/mail in the
    console); else None: no email."""
    if settings.smtp_host:
        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_user,
            settings.smtp_password,
            settings.smtp_tls,
        )
    if settings.report_maildir is not None:
        return MaildirMailer(settings.report_maildir)
    if files_dir is not None:
        return MaildirMailer(files_dir / "mail")
    return None


def compose(
    subject: str, sender: str, to: list[str], text: str, png: bytes | None = None, at: float | None = None
) -> EmailMessage:
    """text/plain + text/html (the chart inline as ``cid:chart``) in one multipart/alternative message."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Date"] = formatdate(at, localtime=False)
    message["Message-ID"] = make_msgid(domain=sender.partition("@")[2] or "ionbot.local")
    plain = slack_to_plain(text)
    message.set_content(plain)
    chart = f'<p><img src="cid:{CHART_CID}" alt="Key metrics chart"></p>' if png else ""
    message.add_alternative(f"<html><body>{mrkdwn_to_html(text)}{chart}</body></html>", subtype="html")
    if png:
        html_part = message.get_body(preferencelist=("html",))
        assert isinstance(html_part, EmailMessage)  # compose() just added it
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{CHART_CID}>", filename="metrics.png")
    return message


_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_MENTION = re.compile(r"<[@!#][^<>]*>")
_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":grey_question:": "❔",
    ":rotating_light:": "🚨",
    ":large_green_circle:": "🟢",
    ":leftwards_arrow_with_hook:": "↩",
    ":hourglass:": "⌛",
    ":arrow_forward:": "▶",
    ":no_entry:": "⛔",
    ":warning:": "⚠",
    ":test_tube:": "🧪",
}


def slack_to_plain(text: str) -> str:
    """Slack mrkdwn to readable plain text: entities decoded, links as text, emoji codes as emoji."""
    out = _LINK.sub(r"\2 (\1)", text)
    out = _MENTION.sub("", out)
    for code, emoji in _EMOJI.items():
        out = out.replace(code, emoji)
    return out.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def mrkdwn_to_html(text: str) -> str:
    """Enough of Slack mrkdwn for a report: *bold*, _italic_, `code`, ``` blocks, lines."""
    parts = slack_to_plain(text).split("```")
    rendered: list[str] = []
    for index, part in enumerate(parts):
        escaped = html.escape(part)
        if index % 2:
            rendered.append(f"<pre>{escaped.strip(chr(10))}</pre>")
            continue
        escaped = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", escaped)
        escaped = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", escaped)
        escaped = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", escaped)
        rendered.append(escaped.replace("\n", "<br>\n"))
    return "".join(rendered)
