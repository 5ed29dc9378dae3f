"""Structured logs: JSON in production, readable in a terminal; secrets never leave the process."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"token|secret|password|authorization|signature", re.IGNORECASE)
_SECRET_VALUES = re.compile(r"xox[abpr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+|(?<=://)[^:/@\s]+:[^@/\s]+(?=@)")


def redact(value: Any) -> Any:
    """Mask Slack tokens and URL passwords inside any string."""
    if isinstance(value, str):
        return _SECRET_VALUES.sub("***", value)
    return value


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SECRET_KEYS.search(key):
            event[key] = "***"
        else:
            event[key] = redact(event[key])
    return event


def configure_logging(fmt: str = "auto", level: str = "INFO") -> None:
    """Set up structlog once; ``fmt`` is auto, json or console."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    numeric = logging.getLevelName(level.upper())
    logging.basicConfig(stream=sys.stderr, level=numeric if isinstance(numeric, int) else logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact_event,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric if isinstance(numeric, int) else 20),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
