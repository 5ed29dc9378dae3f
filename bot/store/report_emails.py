"""Report email claims that remember their retry, so any replica (or a restarted one) finishes it.

An email is claimed once (``post_claims``, ``email:<report key>``) together with its composed
message and a hold: ``next_attempt_at`` a few minutes ahead, so if the sender dies mid-send a
replica tries again after the hold. A failed round records the failed attempts, the error and
the next attempt; ``take_email`` is the compare-and-set that lets one replica (of any number
on the same database) try a due email; a sent or abandoned email has no next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.store.base import StoreBase
from bot.store.tables import PostClaimRow

EMAIL_PREFIX = "email:"


@dataclass(frozen=True)
class EmailClaim:
    """One report email as claimed: its failed attempts so far and the message to (re)send."""

    seq: int
    job_key: str
    run_id: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    message: str | None

    @property
    def dedupe_key(self) -> str:
        return self.job_key.removeprefix(EMAIL_PREFIX)


def _claim(row: PostClaimRow) -> EmailClaim:
    return EmailClaim(row.seq, row.job_key, row.run_id, row.attempts, row.last_error, row.next_attempt_at, row.message)


class ReportEmailStore(StoreBase):
    async def claim_email(
        self, dedupe_key: str, run_id: str, local_date: str, message: str, hold_until: datetime
    ) -> EmailClaim | None:
        """Take the email of report ``dedupe_key`` (one caller across processes wins), held by the
        caller until ``hold_until``; None when it was claimed before."""
        row = PostClaimRow(
            job_key=EMAIL_PREFIX + dedupe_key,
            run_id=run_id,
            local_date=local_date,
            claimed_at=self.clock.now(),
            attempts=0,
            next_attempt_at=hold_until,
            message=message,
        )
        try:
            async with self._transaction(effect=False) as session:
                session.add(row)
        except IntegrityError:
            return None
        return _claim(row)

    async def due_emails(self, now: datetime) -> list[EmailClaim]:
        """Emails whose next attempt is due: a failed round waiting, or a hold whose sender vanished."""
        async with self._transaction(effect=False) as session:
            rows = await session.scalars(
                select(PostClaimRow)
                .where(
                    PostClaimRow.next_attempt_at <= now,
                    PostClaimRow.message.is_not(None),
                    PostClaimRow.job_key.startswith(EMAIL_PREFIX),
                )
                .order_by(PostClaimRow.next_attempt_at, PostClaimRow.seq)
            )
            return [_claim(row) for row in rows]

    async def take_email(self, claim: EmailClaim, now: datetime, hold_until: datetime) -> bool:
        """Compare-and-set: hold ``claim`` until ``hold_until`` if it is still due and nobody tried it
        since it was read; True for exactly one caller."""
        async with self._transaction(effect=False) as session:
            taken = await session.execute(
                update(PostClaimRow)
                .where(
                    PostClaimRow.seq == claim.seq,
                    PostClaimRow.attempts == claim.attempts,
                    PostClaimRow.next_attempt_at <= now,
                )
                .values(next_attempt_at=hold_until)
            )
            return bool(getattr(taken, "rowcount", 0) == 1)

    async def email_sent(self, claim: EmailClaim) -> None:
        """Delivered: nothing more to try; the message is dropped (the mailbox has it)."""
        await self._settle(claim, claim.attempts, claim.last_error, None, keep_message=False)

    async def email_failed(
        self, claim: EmailClaim, attempts: int, error: str, next_attempt_at: datetime | None
    ) -> None:
        """A failed round: ``attempts`` failed tries in all, and the next at ``next_attempt_at`` (None: given up)."""
        await self._settle(claim, attempts, error, next_attempt_at, keep_message=next_attempt_at is not None)

    async def _settle(
        self, claim: EmailClaim, attempts: int, error: str | None, next_at: datetime | None, *, keep_message: bool
    ) -> None:
        values: dict[str, object] = {"attempts": attempts, "last_error": error, "next_attempt_at": next_at}
        if not keep_message:
            values["message"] = None
        async with self._transaction(effect=False) as session:
            await session.execute(update(PostClaimRow).where(PostClaimRow.seq == claim.seq).values(**values))
