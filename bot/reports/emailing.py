"""Each scheduled report by email too, exactly once across replicas, retried, and a failure said aloud.

The send is claimed in the store (``email:<report key>``) before anything goes out, so of two
replicas posting the same report one emails it. A failed send is tried again at once (three
attempts), then at the following resync ticks (``retry_pending``, three more rounds); the first
failure is noted in the report's thread and so is the outcome. The pending list lives in this
process: a restart drops a pending retry (its claim stays taken, so nobody sends it twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import structlog

from bot.engine.records import Run
from bot.reports.mail import Mailer, compose

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)

ATTEMPTS_PER_ROUND = 3
ROUNDS = 4  # the first round and three retries at the following ticks


class ThreadReplier(Protocol):
    async def reply(self, channel: str, dedupe_key: str, text: str) -> None: ...


@dataclass
class PendingEmail:
    run_id: str
    channel: str
    dedupe_key: str
    message: EmailMessage
    to: list[str]
    rounds: int = 0
    noted: bool = False


class ReportEmailer:
    """Sends report emails through a Mailer (SMTP or a maildir); None: reports are not emailed."""

    def __init__(self, bot: Bot, replier: ThreadReplier, mailer: Mailer | None) -> None:
        self.bot = bot
        self.replier = replier
        self.mailer = mailer
        self.pending: list[PendingEmail] = []

    def recipients(self) -> list[str]:
        """ION_REPORT_EMAIL_TO when set, else the runbook's ``schedule.report_email_to``."""
        return list(self.bot.settings.report_email_to or self.bot.runbook.schedule.report_email_to)

    async def send(self, run: Run, dedupe_key: str, subject: str, text: str, png: bytes | None) -> bool:
        """Claim and send; False when there is nothing to do (no mailer, no address, or already claimed)."""
        to = self.recipients()
        if self.mailer is None or not to:
            return False
        now = self.bot.clock.now()
        local_date = now.astimezone(ZoneInfo(self.bot.runbook.calendar.timezone)).date().isoformat()
        if not await self.bot.store.claim_post(f"email:{dedupe_key}", run.id, local_date):
            return False
        message = compose(subject, self.bot.settings.report_email_from, to, text, png, now.timestamp())
        await self._round(PendingEmail(run.id, run.channel, dedupe_key, message, to))
        return True

    async def retry_pending(self) -> None:
        """The resync tick: one more round for each email that failed before."""
        waiting, self.pending = self.pending, []
        for item in waiting:
            await self._round(item)

    async def _round(self, item: PendingEmail) -> None:
        assert self.mailer is not None
        error: Exception | None = None
        for _ in range(ATTEMPTS_PER_ROUND):
            try:
                await self.mailer.send(item.message)
            except Exception as exc:  # any failure of the mail server is retried, never raised into the report
                error = exc
                continue
            if item.noted:
                await self._say(item, f":email: The email of this report was sent to {', '.join(item.to)} after all.")
            return
        item.rounds += 1
        log.warning("report email failed", key=item.dedupe_key, rounds=item.rounds, error=str(error))
        why = f"{type(error).__name__}: {error}" if error else "unknown error"
        where = self.mailer.describe()
        tries = item.rounds * ATTEMPTS_PER_ROUND
        if item.rounds < ROUNDS:
            self.pending.append(item)
            if not item.noted:
                item.noted = True
                await self._say(
                    item,
                    f":warning: The email of this report to {', '.join(item.to)} could not be sent through {where} "
                    f"({tries} attempts; {why}). It is tried again at the next tick.",
                )
            return
        await self._say(
            item,
            f":warning: The email of this report to {', '.join(item.to)} was not delivered: {tries} attempts "
            f"through {where} failed ({why}). Forward this report by hand.",
        )

    async def _say(self, item: PendingEmail, text: str) -> None:
        try:
            await self.replier.reply(item.channel, item.dedupe_key, text)
        except Exception:  # the note is best effort; the log has the failure either way
            log.exception("report email note failed", key=item.dedupe_key)
