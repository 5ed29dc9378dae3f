"""The two PagerDuty APIs the bot uses, over aiohttp: REST API v2 ``GET /oncalls`` (who is on call
on a schedule; a read-only API token) and Events API v2 ``POST /v2/enqueue`` (trigger, acknowledge,
resolve by dedup key; an integration's routing key).

Failures become ``PagerDutyFailure`` carrying the outbox's ApiFailure: a 429 or 5xx is worth
another try (PagerDuty's Retry-After is kept here, so this sender waits, not the Slack outbox),
a 400 is not (the event is malformed; trying again cannot help).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from bot.engine.ports import Clock
from bot.slack.delivery.api_failures import ApiFailure, retry_after_seconds

REST_URL = "https://api.pagerduty.com"
EVENTS_URL = "https://events.pagerduty.com"
TIMEOUT = aiohttp.ClientTimeout(total=10)


class PagerDutyFailure(Exception):
    def __init__(self, failure: ApiFailure) -> None:
        super().__init__(failure.text)
        self.failure = failure


@dataclass(frozen=True)
class OnCallUser:
    pagerduty_id: str
    name: str
    email: str
    level: int


class PagerDuty:
    def __init__(
        self,
        clock: Clock,
        token: str | None,
        routing_key: str | None,
        *,
        rest_url: str = REST_URL,
        events_url: str = EVENTS_URL,
    ) -> None:
        self._clock = clock
        self._token = token
        self.routing_key = routing_key
        self._rest = rest_url.rstrip("/")
        self._events = events_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._resume_at: datetime | None = None  # PagerDuty's last Retry-After on events, by the bot's clock

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def oncalls(self, schedule: str) -> list[OnCallUser]:
        """Who is on call now on ``schedule``, lowest escalation level first."""
        if not self._token:
            raise PagerDutyFailure(ApiFailure("ION_PAGERDUTY_TOKEN is not set", permanent=True))
        headers = {"Authorization": f"Token token={self._token}", "Accept": "application/vnd.pagerduty+json;version=2"}
        params = {"schedule_ids[]": schedule, "include[]": "users", "earliest": "true"}
        body = await self._request("GET", f"{self._rest}/oncalls", headers=headers, params=params)
        found: list[OnCallUser] = []
        for entry in body.get("oncalls") or []:
            user = entry.get("user") or {}
            if user.get("email"):
                found.append(
                    OnCallUser(
                        str(user.get("id")),
                        str(user.get("summary") or user.get("name") or ""),
                        str(user["email"]),
                        int(entry.get("escalation_level") or 1),
                    )
                )
        return sorted(found, key=lambda u: u.level)

    async def send_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """One Events API v2 call; raises PagerDutyFailure (never anything else from the network)."""
        if self._resume_at is not None and self._clock.now() < self._resume_at:
            raise PagerDutyFailure(ApiFailure(f"waiting for PagerDuty's Retry-After until {self._resume_at:%H:%M:%S}"))
        if not self.routing_key:
            raise PagerDutyFailure(ApiFailure("ION_PAGERDUTY_ROUTING_KEY is not set", permanent=True))
        return await self._request(
            "POST", f"{self._events}/v2/enqueue", json={**event, "routing_key": self.routing_key}
        )

    async def _request(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http().request(method, url, **kwargs) as response:
                text = await response.text()
                if response.status < 300:
                    data = await response.json(content_type=None) if text.strip() else {}
                    return data if isinstance(data, dict) else {}
                raise PagerDutyFailure(self._failure(response.status, response.headers, text))
        except PagerDutyFailure:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise PagerDutyFailure(ApiFailure(f"PagerDuty unreachable: {type(exc).__name__}: {exc}"[:300])) from exc

    def _failure(self, status: int, headers: Any, text: str) -> ApiFailure:
        if status == 429:
            wait = retry_after_seconds(headers) or 1.0
            self._resume_at = self._clock.now() + timedelta(seconds=wait)
            return ApiFailure(f"PagerDuty answered 429 (Retry-After {wait:g} s)")
        said = f"PagerDuty answered HTTP {status}: {' '.join(text.split())[:200]}"
        return ApiFailure(said, permanent=400 <= status < 500 and status not in (408, 409))
