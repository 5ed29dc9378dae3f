"""Structured logs: JSON in production, readable in a terminal; secrets never leave the process.

The bot's own structlog events and every stdlib logger (slack_sdk, slack_bolt, aiohttp,
sqlalchemy, apscheduler) go through the same chain: tracebacks become text, then secrets are
masked in the event (nested values included) and once more in the rendered line.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any, TextIO


@contextlib.contextmanager
def _hidden_module(name: str) -> Iterator[None]:
    """``import name`` fails inside: a None entry in sys.modules is CPython's way to say so."""
    missing = name not in sys.modules
    before = sys.modules.get(name)
    sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if missing:
            del sys.modules[name]
        else:
            sys.modules[name] = before  # type: ignore[assignment]


# structlog imports rich, when it can, for tracebacks we never use (the renderers below take
# plain_traceback); that was a tenth of `ionbot serve`'s time to its first /healthz answer.
with _hidden_module("rich"):
    import structlog

MASK = "***"
_SECRET_KEYS = re.compile(r"token|secret|password|passwd|authorization|signature|cookie|api_?key", re.IGNORECASE)
# Token characters stop at quotes, commas and spaces, so masking a rendered JSON line keeps it JSON.
_SLACK_TOKEN = re.compile(r"(?:xox[abeposr]|xapp)-[A-Za-z0-9-]+")
_BEARER = re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
_URL_PASSWORD = re.compile(r"(://[^:/@\s\"']+):[^@/\s\"']+@")
# Shorter known values would mask ordinary words; no real token or secret is this short.
_MIN_KNOWN_SECRET = 8


class Redactor:
    """Masks Slack tokens, Bearer credentials, URL passwords and the deployment's own secret values."""

    def __init__(self, known: Iterable[str | None] = ()) -> None:
        values = sorted({v for v in known if v and len(v) >= _MIN_KNOWN_SECRET}, key=len, reverse=True)
        self._known = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def text(self, value: str) -> str:
        value = _SLACK_TOKEN.sub(MASK, value)
        value = _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", value)
        value = _URL_PASSWORD.sub(rf"\1:{MASK}@", value)
        return self._known.sub(MASK, value) if self._known else value

    def value(self, value: Any) -> Any:
        """The same value with every string inside masked; secret-named keys lose their value."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, bytes):
            return self.text(value.decode("utf-8", "replace"))
        if isinstance(value, Mapping):
            return {key: self._item(key, item) for key, item in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            items = [self.value(item) for item in value]
            return items if isinstance(value, list | set | frozenset) else tuple(items)
        return value

    def _item(self, key: Any, item: Any) -> Any:
        if isinstance(key, str) and _SECRET_KEYS.search(key) and item is not None and not isinstance(item, bool):
            return MASK
        return self.value(item)

    def event(self, _: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        """structlog processor: mask the event dict in place (structlog's own ``_record`` keys are kept)."""
        for key in list(event):
            if not key.startswith("_"):
                event[key] = self._item(key, event[key])
        return event

    def rendered(self, renderer: Callable[..., Any]) -> Callable[..., Any]:
        """The renderer followed by a last pass over its output, for secrets hidden in reprs."""

        def render(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
            line = renderer(logger, method, event)
            return self.text(line) if isinstance(line, str) else line

        return render


_default = Redactor()


def redact(value: Any) -> Any:
    """Mask Slack tokens, Bearer credentials and URL passwords anywhere inside ``value``."""
    return _default.value(value)


class _IonHandler(logging.StreamHandler[TextIO]):
    """The root handler this module installs, so configuring again replaces it instead of doubling lines."""


def configure_logging(
    fmt: str = "auto", level: str = "INFO", *, secrets: Iterable[str | None] = (), stream: TextIO | None = None
) -> None:
    """Set up structlog and stdlib logging once; ``fmt`` is auto, json or console.

    ``secrets`` are the deployment's own values (signing secret, tokens) to mask wherever they appear.
    """
    out = stream or sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not out.isatty())
    redactor = Redactor(secrets)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty(), exception_formatter=structlog.dev.plain_traceback)
    )
    resolved = logging.getLevelName(level.upper())
    numeric = resolved if isinstance(resolved, int) else logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    tail: list[Any] = [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # the traceback as text: a JSON field, or lines under the event
        redactor.event,
    ]
    structlog.configure(
        processors=[*shared, *tail, redactor.rendered(renderer)],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = _IonHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, redactor.rendered(renderer)],
        )
    )
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not isinstance(h, _IonHandler)] + [handler]
    root.setLevel(numeric)
