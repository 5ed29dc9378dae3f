"""Every shape in which a Slack Web API call can fail, read into one record the outbox can act on.

slack_sdk raises SlackApiError around three kinds of response (a parsed JSON body, a text body
such as a proxy's HTML page, or the raw aiohttp response when the body claimed JSON and was not),
and aiohttp raises its own errors for resets and timeouts. ``describe`` reads each without
assuming a shape, so no failure can escape the outbox as an AttributeError and strand a claim.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.safe_text import clean

MAX_ERROR_TEXT = 300  # an HTML error page is not worth storing whole
# Slack's own words for "try again later", even when they come with a 200.
TRANSIENT_ERRORS = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"})


@dataclass(frozen=True)
class ApiFailure:
    """What went wrong, in a line; whether a retry can help; how long Slack asked us to wait."""

    text: str
    permanent: bool = False
    retry_after: float | None = None


def describe(exc: BaseException, limit_seconds: float) -> ApiFailure:
    """The failure behind ``exc``; ``limit_seconds`` is the cut-off a TimeoutError stands for."""
    if isinstance(exc, SlackApiError):
        return _api_error(exc)
    if isinstance(getattr(exc, "failure", None), ApiFailure):  # a routed sender's own reading (PagerDuty)
        return exc.failure  # type: ignore[attr-defined,no-any-return]
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return ApiFailure(f"Slack did not answer within {limit_seconds:g} s")
    return ApiFailure(_clip(f"{type(exc).__name__}: {exc}"))


def _api_error(exc: SlackApiError) -> ApiFailure:
    response: Any = exc.response
    status = _int(getattr(response, "status_code", None) or getattr(response, "status", None))
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    retry_after = retry_after_seconds(getattr(response, "headers", None) or {})
    if status == 429 or error == "ratelimited":
        wait = f" (Retry-After {retry_after:g} s)" if retry_after is not None else " (no Retry-After)"
        return ApiFailure(f"Slack answered ratelimited{wait}", retry_after=retry_after if retry_after else None)
    if isinstance(error, str) and error:
        said = f"Slack answered {error}" + (f" (HTTP {status})" if status and status != 200 else "")
        permanent = error not in TRANSIENT_ERRORS and (status is None or status < 500)
        return ApiFailure(_clip(said), permanent=permanent)
    return ApiFailure(f"Slack answered HTTP {status if status is not None else '?'} without Slack's JSON error")


def retry_after_seconds(headers: Mapping[str, Any]) -> float | None:
    """Retry-After in seconds (headers as aiohttp or slack_sdk keep them); None when absent or unreadable."""
    for key, value in headers.items():
        if str(key).lower() != "retry-after":
            continue
        first = value[0] if isinstance(value, list) and value else value
        try:
            seconds = float(str(first).strip())
        except ValueError:
            return None
        return seconds if 0 <= seconds < 86_400 else None
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _clip(text: str) -> str:
    text = clean(" ".join(text.split()))
    return text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 1] + "…"


class BriefRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's rate-limit retry, only for short waits: a Retry-After over ``max_wait`` seconds
    goes back to the outbox (which pauses by the bot's clock) instead of holding a try open."""

    def __init__(self, max_retry_count: int = 3, max_wait: float = 5.0) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after_seconds(response.headers)
        return wait is None or wait <= self.max_wait
