"""The timeline's pages: runs, a run's timeline, a step, the audit (HTML, CSV, JSON Lines), metric JSON.

Every handler asks the Gate who is looking, then the use case whether they may see this run,
before it reads anything; HTML pages send a person without a session to sign in, the data
URLs answer 401. Nothing here writes: GET only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import structlog
from aiohttp import web

from bot.engine.audit_query import OUTCOMES, AuditQuery, BadQuery
from bot.engine.errors import StoreUnavailable
from bot.engine.ports import Actor
from bot.engine.records import Run
from bot.engine.timeline import NotFound, Timelines
from bot.engine.timeline_pages import StepPages
from bot.web.access import Denied, Gate
from bot.web.export import audit_csv, audit_jsonl
from bot.web.render import NO_STORE, message_page, page

if TYPE_CHECKING:
    from bot.web.mount import WebView  # the URL table imports this module lazily, on a page's first request

log = structlog.get_logger(__name__)

SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass
class WebDeps:
    """What the pages need, built by the composition root (bot/bootstrap.py: ``web_deps``)."""

    timelines: Timelines
    pages: StepPages
    gate: Gate


Handler = Callable[[web.Request, WebDeps, Actor], Awaitable[web.StreamResponse]]


async def serve(view: WebView, request: web.Request, name: str, html: bool) -> web.StreamResponse:
    """One request to the page ``name``: the gate first, then the page (bot/web/mount.py routes here)."""
    deps: WebDeps | None = view.deps
    if deps is None:
        return _refuse(Denied(503, "The bot is starting; this page answers in a moment."), html)
    if name == "sign_in_page":
        own = deps.gate.pages().get(request.path)
        if own is None:
            return message_page(404, "This timeline does not use Sign in with Slack.")
        return await own(request)
    seen = await deps.gate.viewer(request)
    if isinstance(seen, Denied):
        return _refuse(seen, html)
    handler: Handler = PAGES[name]
    try:
        return await handler(request, deps, seen)
    except NotFound as missing:
        return _refuse(Denied(404, missing.message), html)
    except StoreUnavailable:
        return _refuse(Denied(503, "The state store is out; the timeline comes back with it."), html)


def _refuse(denied: Denied, html: bool) -> web.StreamResponse:
    if html and denied.sign_in:
        raise web.HTTPFound(denied.sign_in, headers=NO_STORE)
    if html:
        return message_page(denied.status, denied.message, denied.sign_in)
    return web.json_response({"ok": False, "error": denied.message}, status=denied.status, headers=NO_STORE)


async def _run_for(request: web.Request, deps: WebDeps, actor: Actor) -> Run:
    """The run of the URL, once the role check for it passed (refused in a sentence otherwise)."""
    run = await deps.timelines.run(request.match_info["run_id"])
    refusal = deps.timelines.may_view(actor, run)
    if refusal is not None:
        raise web.HTTPForbidden(text=refusal, headers=NO_STORE)
    return run


async def runs_page(request: web.Request, deps: WebDeps, actor: Actor) -> web.StreamResponse:
    refusal = deps.timelines.may_view(actor)
    if refusal is not None:
        return message_page(403, refusal)
    return page("runs.html", summaries=await deps.timelines.summaries(), title="ION runs")


async def timeline_page(request: web.Request, deps: WebDeps, actor: Actor) -> web.StreamResponse:
    run = await _run_for(request, deps, actor)
    timeline = await deps.timelines.timeline(run.id)
    return page("timeline.html", t=timeline, title=f"ION timeline · {run.id}")


async def step_page(request: web.Request, deps: WebDeps, actor: Actor) -> web.StreamResponse:
    run = await _run_for(request, deps, actor)
    step = await deps.pages.step(run.id, request.match_info["step_id"])
    return page("step.html", p=step, title=f"ION · {run.id} · {step.step_id}")


async def audit_page(request: web.Request, deps: WebDeps, actor: Actor) -> web.StreamResponse:
    run = await _run_for(request, deps, actor)
    entries = await deps.timelines.source.audit(run.id)
    problem = None
    try:
        query = AuditQuery.parse(request.query)
    except BadQuery as bad:
        query, problem = AuditQuery(), f"{bad} The whole log is shown."
    shown = query.apply(entries)
    suffix = "?" + urlencode(query.as_params()) if not query.empty else ""
    return page(
        "audit.html",
        run=run,
        entries=shown,
        total=len(entries),
        query=query,
        outcomes=OUTCOMES,
        problem=problem,
        suffix=suffix,
        tz=deps.timelines.runbook.calendar.timezone,
        title=f"ION audit · {run.id}",
    )


async def audit_download(request: web.Request, deps: WebDeps, actor: Actor) -> web.StreamResponse:
    run = await _run_for(request, deps, actor)
    try:
        query = AuditQuery.parse(request.query)
    except BadQuery as bad:
        return web.json_response({"ok": False, "error": str(bad)}, status=400, headers=NO_STORE)
    entries = query.apply(await deps.timelines.source.audit(run.id))
    as_csv = request.path.endswith(".csv")
    body = audit_csv(entries) if as_csv else audit_jsonl(entries)
    name = SAFE_NAME.sub("_", f"ion-audit-{run.id}") + (".csv" if as_csv else ".jsonl")
    headers = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'}
    content_type = "text/csv" if as_csv else "application/x-ndjson"
    return web.Response(text=body, content_type=content_type, charset="utf-8", headers=headers)


async def metric_json(request: web.Request, deps: WebDeps, actor: Actor) -> web.StreamResponse:
    run = await _run_for(request, deps, actor)
    series = await deps.pages.series(run.id, request.match_info["trigger_id"])
    return web.json_response(
        {
            "trigger": series.trigger_id,
            "metric": series.metric,
            "title": series.title,
            "unit": series.unit,
            "threshold": series.threshold,
            "points": series.points,
            "windows": series.windows,
            "low": series.low,
            "high": series.high,
            "missing": series.missing,
        },
        headers=NO_STORE,
    )


PAGES: dict[str, Handler] = {
    "runs_page": runs_page,
    "timeline_page": timeline_page,
    "step_page": step_page,
    "audit_page": audit_page,
    "audit_download": audit_download,
    "metric_json": metric_json,
}
