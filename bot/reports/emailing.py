"""Each scheduled report by email too, exactly once across replicas, retried durably, a failure said aloud.

The send is claimed in the store (``email:<report key>``, with the composed message) before
anything goes out, so of two replicas posting the same report one emails it. A failed send is
tried again at once (three attempts a round); a failed round is recorded on the claim (attempts,
last error, next attempt), and the resync tick of any replica, this one after a restart too, takes
a due email with a compare-and-set and runs the next round, up to four rounds. The first failure
is noted in the report's thread and so is the outcome: sent after all, or given up.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email import message_from_string, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

import structlog

from bot.engine.records import Run
from bot.reports.mail import Mailer, compose
from bot.store.report_emails import EmailClaim

if TYPE_CHECKING:
    from bot.bootstrap import Bot

log = structlog.get_logger(__name__)

ATTEMPTS_PER_ROUND = 3
ROUNDS = 4  # the first round and three retries at later ticks
RETRY_AFTER = timedelta(minutes=5)  # from a failed round to the next
HOLD = timedelta(minutes=10)  # a sender's hold on an email; a replica takes over after it (the sender died)


class ThreadReplier(Protocol):
    async def reply(self, channel: str, dedupe_key: str, text: str) -> None: ...


class ReportEmailer:
    """Sends report emails through a Mailer (SMTP or a maildir); None: reports are not emailed."""

    def __init__(self, bot: Bot, replier: ThreadReplier, mailer: Mailer | None) -> None:
        self.bot = bot
        self.replier = replier
        self.mailer = mailer

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
        message = compose(subject, self.bot.settings.report_email_from, to, text, png, now.timestamp())
        claim = await self.bot.store.claim_email(dedupe_key, run.id, local_date, message.as_string(), now + HOLD)
        if claim is None:
            return False
        await self._round(claim, message, run.channel)
        return True

    async def retry_pending(self) -> None:
        """The resync tick: one more round for each email whose next attempt is due, taken by one replica."""
        if self.mailer is None:
            return
        now = self.bot.clock.now()
        for claim in await self.bot.store.due_emails(now):
            if not await self.bot.store.take_email(claim, now, now + HOLD):
                continue  # another replica has it
            run = await self.bot.store.get_run(claim.run_id)
            if run is None or claim.message is None:
                continue
            message = message_from_string(claim.message, policy=policy.default)
            assert isinstance(message, EmailMessage)  # policy.default parses to EmailMessage
            await self._round(claim, message, run.channel)

    async def _round(self, claim: EmailClaim, message: EmailMessage, channel: str) -> None:
        assert self.mailer is not None
        to = str(message["To"])
        error: Exception | None = None
        for _ in range(ATTEMPTS_PER_ROUND):
            try:
                await self.mailer.send(message)
            except Exception as exc:  # any failure of the mail server is retried, never raised into the report
                error = exc
                continue
            await self.bot.store.email_sent(claim)
            if claim.attempts:
                await self._say(channel, claim, f":email: The email of this report was sent to {to} after all.")
            return
        await self._failed(claim, channel, to, error)

    async def _failed(self, claim: EmailClaim, channel: str, to: str, error: Exception | None) -> None:
        tries = claim.attempts + ATTEMPTS_PER_ROUND
        why = f"{type(error).__name__}: {error}" if error else "unknown error"
        where = self.mailer.describe() if self.mailer is not None else "no mailer"
        log.warning("report email failed", key=claim.dedupe_key, attempts=tries, error=why)
        if tries < ROUNDS * ATTEMPTS_PER_ROUND:
            next_at: datetime = self.bot.clock.now() + RETRY_AFTER
            await self.bot.store.email_failed(claim, tries, why, next_at)
            if not claim.attempts:
                minutes = int(RETRY_AFTER.total_seconds() // 60)
                await self._say(
                    channel,
                    claim,
                    f":warning: The email of this report to {to} could not be sent through {where} "
                    f"({tries} attempts; {why}). It is tried again in {minutes} minutes, "
                    f"up to {ROUNDS - 1} more rounds.",
                )
            return
        await self.bot.store.email_failed(claim, tries, why, None)
        await self._say(
            channel,
            claim,
            f":warning: The email of this report to {to} was not delivered: {tries} attempts "
            f"through {where} failed ({why}). Gave up; forward this report by hand.",
        )

    async def _say(self, channel: str, claim: EmailClaim, text: str) -> None:
        try:
            await self.replier.reply(channel, claim.dedupe_key, text)
        except Exception:  # the note is best effort; the log has the failure either way
            log.exception("report email note failed", key=claim.dedupe_key)
