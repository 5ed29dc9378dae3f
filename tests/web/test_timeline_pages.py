"""The timeline's pages against the store of a simulated run: every bar and mark where the store says,
the step page's plan diff and snapshots, the audit filtered and downloaded, the metric series."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from html import unescape
from urllib.error import HTTPError
from urllib.request import urlopen

from bot.engine.records import AuditEntry
from tests.web.pages import bars, marks
from tests.web.served import Served


def get(served: Served, path: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urlopen(served.base_url + path, timeout=60) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_the_run_list_links_the_simulated_run(served: Served, run_id: str) -> None:
    status, html, _ = get(served, "/runs")
    assert status == 200
    assert f'href="/runs/{run_id}"' in html


def test_each_lane_bar_spans_its_executions_and_shows_its_stored_state(served: Served, run_id: str) -> None:
    assert served.bot is not None
    store = served.bot.store
    lanes = {(lane.step_id, lane.environment): lane for lane in served.call(store.lanes(run_id))}
    executions = served.call(store.executions(run_id))
    status, html, _ = get(served, f"/runs/{run_id}")
    assert status == 200
    drawn = bars(html)
    expected = {}
    for key, lane in lanes.items():
        ran = [e for e in executions if (e.step_id, e.environment) == key]
        if ran:
            ends = [e.finished_at for e in ran if e.finished_at is not None]
            expected[key] = (lane.state.value, min(e.started_at for e in ran), max(ends))
    assert expected, "the simulated days ran steps"
    assert drawn == expected
    assert "rolled_back" in {state for state, _, _ in drawn.values()}  # the fault's automatic rollback


def test_approvals_ticks_and_the_rollback_are_marks_at_their_stored_times(served: Served, run_id: str) -> None:
    assert served.bot is not None
    store = served.bot.store
    status, html, _ = get(served, f"/runs/{run_id}")
    assert status == 200
    votes = [
        (a.at, a.step_id, a.name)
        for lane in served.call(store.lanes(run_id))
        for a in served.call(store.approvals(run_id, lane.step_id, lane.environment))
        if a.decision == "approved"
    ]
    assert votes and sorted(marks(html, "approval")) == sorted(votes)
    ticks = [(t.at, t.scope, t.name) for t in served.call(store.ticks(run_id, "day2.1"))]
    assert ticks and set(ticks) <= set(marks(html, "tick"))
    rollbacks = [e for e in served.call(store.executions(run_id)) if e.kind == "rollback"]
    assert [(at, step) for at, step, _ in marks(html, "rollback")] == [(e.started_at, e.step_id) for e in rollbacks]
    alerts = served.call(store.alerts(run_id))
    assert alerts and {a.opened_at for a in alerts} == {at for at, _, _ in marks(html, "alert")}
    assert 'data-gate="preflight"' in html and "YES</b>" in html  # the decision point and its outcome


def test_a_health_check_let_pass_is_shown_under_its_decision_point_and_in_the_audit(
    served: Served, run_id: str
) -> None:
    """The simulated lead answers the backtest's red lines at the preflight (bot/simulate/backtest_story.py)."""
    _, html, _ = get(served, f"/runs/{run_id}")
    preflight = unescape(html).split('data-gate="preflight"')[1].split('data-gate="gonogo.day3"')[0]
    assert (
        '<li class="override">⚠ Triggers backtested in the last 7 days with no red line: overridden by lee: '
        "Red lines known: p95_latency_ms > 100 for 5m"
    ) in preflight
    _, audit, _ = get(served, f"/runs/{run_id}/audit?step=preflight")
    assert "gate check overridden" in audit and "Thresholds kept, on-call briefed." in unescape(audit)


def test_the_step_page_shows_the_plan_diff_the_snapshots_and_the_verification(served: Served, run_id: str) -> None:
    status, html, _ = get(served, f"/runs/{run_id}/steps/day2.1")
    assert status == 200
    html = unescape(html)
    assert "(production): minInstances 3 -> 2" in html
    assert '<pre class="snapshot before">{\n  "minInstances": 3\n}' in html
    assert '<pre class="snapshot after">{\n  "minInstances": 2\n}' in html  # the state the apply set
    assert 'href="/runs/' + run_id + '/audit?step=day2.1"' in html


def test_the_step_page_of_the_rolled_back_step_shows_its_rollback(served: Served, run_id: str) -> None:
    assert served.bot is not None
    rolled = next(e for e in served.call(served.bot.store.executions(run_id)) if e.kind == "rollback")
    status, html, _ = get(served, f"/runs/{run_id}/steps/{rolled.step_id}")
    assert status == 200
    assert "rollback in production: succeeded" in html and "production: <b>rolled_back</b>" in html


def test_the_audit_filters_and_its_downloads_hold_exactly_the_filtered_entries(served: Served, run_id: str) -> None:
    assert served.bot is not None
    entries: list[AuditEntry] = served.call(served.bot.store.audit(run_id))
    about = [e for e in entries if e.step_id in ("day2.1",) or (e.step_id or "").startswith("day2.1@")]
    status, html, _ = get(served, f"/runs/{run_id}/audit?step=day2.1")
    assert status == 200 and f"{len(about)} of {len(entries)} entries" in html
    status, body, headers = get(served, f"/runs/{run_id}/audit.csv?step=day2.1")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["id"] for r in rows] == [e.id for e in about]
    assert [datetime.fromisoformat(r["at"]) for r in rows] == [e.at for e in about]
    status, body, _ = get(served, f"/runs/{run_id}/audit.jsonl?step=day2.1")
    lines = [json.loads(line) for line in body.splitlines()]
    assert [line["id"] for line in lines] == [e.id for e in about]
    assert all(line["step_id"] == e.step_id and line["what"] == e.what for line, e in zip(lines, about, strict=True))


def test_a_bad_audit_filter_is_a_sentence_not_an_empty_page(served: Served, run_id: str) -> None:
    status, html, _ = get(served, f"/runs/{run_id}/audit?outcome=maybe")
    assert status == 200 and "outcome must be one of ok, refused, failed, not &#39;maybe&#39;" in html
    status, body, _ = get(served, f"/runs/{run_id}/audit.csv?outcome=maybe")
    assert status == 400 and "outcome must be one of" in json.loads(body)["error"]


def test_a_trigger_metric_comes_with_its_threshold_and_the_alert_window(served: Served, run_id: str) -> None:
    status, body, _ = get(served, f"/runs/{run_id}/metrics/error_rate.json")
    assert status == 200
    series = json.loads(body)
    assert series["threshold"] == 1.0 and series["points"] and series["missing"] is None
    assert len(series["points"]) <= 720
    assert series["windows"], "the fault's alert is shaded"
    start, end = series["windows"][0]
    assert 0 <= start <= end <= 100
    assert max(v for x, v in series["points"] if start - 0.2 <= x <= end + 0.2) > 1.0  # the breach is drawn


def test_an_unknown_run_step_or_trigger_answers_404_in_a_sentence(served: Served, run_id: str) -> None:
    status, html, _ = get(served, "/runs/nosuchrun")
    assert status == 404 and "There is no run nosuchrun" in html
    status, html, _ = get(served, f"/runs/{run_id}/steps/day9.9")
    assert status == 404 and "has no step day9.9" in html
    status, body, _ = get(served, f"/runs/{run_id}/metrics/nosuch.json")
    assert status == 404 and "no trigger nosuch" in body
