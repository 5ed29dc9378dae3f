"""What the report scheduler keeps in the database: one claim per scheduled post, so of several
replicas exactly one posts a report or standup. Declared here, by its consumer; bot/store implements it."""

from __future__ import annotations

from typing import Protocol


class ClaimStore(Protocol):
    async def claim_post(self, job_key: str, run_id: str, local_date: str) -> bool:
        """True for exactly one caller per (job_key, run_id, local_date), across processes."""
        ...

    async def release_post(self, job_key: str, run_id: str, local_date: str) -> None:
        """Give a claim back after the post failed, so a later attempt (here or on a replica) can win it."""
        ...
