"""Jinja2 pages of the timeline: autoescaped HTML, times shown in the runbook's zone.

Templates live beside the code (bot/web/templates) and are loaded once; a page is rendered
from a view model only, so what it shows is exactly what the use case read.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aiohttp import web

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES = Path(__file__).parent / "templates"


def local_time(value: datetime | None, zone: str, fmt: str = "%a %d %b %H:%M") -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime(fmt)


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


@lru_cache(maxsize=1)
def environment() -> Environment:
    # Imported at the first page: a starting bot answers Slack before it loads Jinja.
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["local"] = local_time
    env.filters["pretty"] = pretty_json
    return env


def page(template: str, status: int = 200, **context: Any) -> web.Response:
    html = environment().get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", headers=NO_STORE)


def message_page(status: int, sentence: str, sign_in: str | None = None) -> web.Response:
    """A page that is one sentence (refusals, errors), with a sign-in link when one helps."""
    return page("message.html", status, sentence=sentence, sign_in=sign_in, title="ION timeline")


NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
