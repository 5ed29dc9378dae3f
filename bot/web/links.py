"""Links into the timeline, for cards and reports: plain strings, no web framework needed.

None when ION_TIMELINE_URL is unset, so a deployment without the web view shows no dead link.
"""

from __future__ import annotations

from urllib.parse import quote


def run_url(base: str | None, run_id: str) -> str | None:
    if not base:
        return None
    return f"{base.rstrip('/')}/runs/{quote(run_id, safe='')}"


def step_url(base: str | None, run_id: str, step_id: str) -> str | None:
    run = run_url(base, run_id)
    return f"{run}/steps/{quote(step_id, safe='')}" if run else None


def step_link_block(base: str | None, run_id: str, step_id: str) -> dict[str, object] | None:
    """A Block Kit context line linking the step's page in the timeline."""
    url = step_url(base, run_id, step_id)
    if url is None:
        return None
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{url}|{step_id} in the timeline>"}]}


def run_link_block(base: str | None, run_id: str, step_id: str | None = None) -> dict[str, object] | None:
    """A context line linking the run's timeline (or one step's page): gate, status and alert cards."""
    if step_id:
        return step_link_block(base, run_id, step_id)
    url = run_url(base, run_id)
    if url is None:
        return None
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{url}|Timeline of this run>"}]}


def report_footer(base: str | None, run_id: str) -> str | None:
    """The last line of a report: where the whole run is drawn."""
    url = run_url(base, run_id)
    return f"<{url}|Timeline of this run>" if url else None
