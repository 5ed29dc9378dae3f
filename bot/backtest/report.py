"""The backtest as Markdown: red lines first in sentences, then one table row per condition, a heat map
for every condition that fired, and the charts (written beside it by charts.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.backtest.run import Line, Result
from bot.backtest.stats import WEEKDAY_NAMES
from bot.runbook.durations import format_duration

MARK = {"red": "🔴 red", "amber": "🟠 amber", "green": "🟢 green"}


def summary_text(result: Result) -> str:
    """One paragraph: the counts and every red line (the Slack message beside the file)."""
    counts = {c: sum(1 for line in result.lines if line.verdict.colour == c) for c in ("red", "amber", "green")}
    head = (
        f"Backtest of {result.runbook_id} on {result.environment}, {result.weeks:g} weeks of history: "
        f"{len(result.lines)} conditions, {counts['red']} red, {counts['amber']} amber, {counts['green']} green."
    )
    reds = [reason for line in result.red() for reason in line.verdict.reasons if reason]
    return head + ("".join(f"\n• {r}" for r in reds[:10]) if reds else "\nNo red line.")


def markdown(result: Result, charts: dict[str, str], zone: ZoneInfo) -> str:
    shown = f"{_day(result.start, zone)} to {_day(result.end, zone)} ({zone.key})"
    parts = [
        f"# Backtest: {result.runbook_id}, {result.environment}",
        "",
        f"{result.weeks:g} weeks, {shown}; the watcher's polls every {format_duration(result.interval)}; "
        f"{result.calls} metric reads, {result.points} points.",
        "",
        summary_text(result).replace("\n• ", "\n- "),
        "",
        "## Conditions",
        "",
        "| verdict | condition | from | fired | firing in all | flaps | no data | p50 / p95 / p99 / max | threshold |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_row(line) for line in result.lines),
        "",
    ]
    suggestions = [line for line in result.lines if line.suggestion is not None]
    if suggestions:
        parts += ["## Suggested thresholds (at most once a week on this history)", ""]
        parts += [f"- `{line.subject.text}`: {line.suggestion.text}" for line in suggestions if line.suggestion]
        parts.append("")
    for line in result.lines:
        if line.verdict.reasons or line.firings:
            parts += _details(line, zone)
    if result.skipped:
        parts += ["## Not backtested", "", *(f"- {s}" for s in result.skipped), ""]
    if charts:
        parts += ["## Charts", ""]
        parts += [f"![{metric}]({path})" for metric, path in charts.items()]
        parts.append("")
    return "\n".join(parts)


def _row(line: Line) -> str:
    v = line.values
    values = f"{v.p50:.4g} / {v.p95:.4g} / {v.p99:.4g} / {v.max:.4g}" if v else "no data"
    threshold = f"{line.limit:g}" if line.limit is not None else "no baseline"
    fired = f"{len(line.firings)}" if line.subject.alerting else f"failed {len(line.firings)}×"
    cells = [
        MARK[line.verdict.colour],
        f"`{line.subject.text}`",
        ", ".join(line.subject.sources),
        fired,
        format_duration(_rounded(line.firing_seconds)),
        str(line.flaps),
        f"{line.unknown_share * 100:.1f} %",
        values,
        threshold,
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _details(line: Line, zone: ZoneInfo) -> list[str]:
    parts = [f"### `{line.subject.text}` ({MARK[line.verdict.colour]})", ""]
    parts += [f"- {reason}." for reason in line.verdict.reasons]
    if line.firings:
        what = "Fired" if line.subject.alerting else "Failed"
        when = ", ".join(f"{s.opened_at.astimezone(zone):%a %d %b %H:%M}" for s in line.firings[:12])
        more = f" and {len(line.firings) - 12} more" if len(line.firings) > 12 else ""
        parts.append(f"- {what} at {when}{more}.")
    longest = sorted(line.no_data, key=lambda s: s.opened_at - (s.resolved_at or s.opened_at))[:3]
    if longest:
        spans = ", ".join(
            f"{s.opened_at.astimezone(zone):%a %d %b %H:%M} for {format_duration(_rounded(s.length(s.opened_at)))}"
            for s in longest
        )
        parts.append(f"- Longest stretches without data: {spans}.")
    if any(line.heat):
        parts += ["", _heat_table(line), ""]
    parts.append("")
    return parts


def _heat_table(line: Line) -> str:
    """Minutes firing (or failing) by weekday and hour; only the hours that have any."""
    hours = [h for h in range(24) if any(line.heat[d * 24 + h] for d in range(7))]
    head = "| weekday | " + " | ".join(f"{h:02d}h" for h in hours) + " |"
    rule = "|---|" + "---|" * len(hours)
    rows = []
    for day in range(7):
        cells = [line.heat[day * 24 + h] for h in hours]
        if any(cells):
            rows.append(f"| {WEEKDAY_NAMES[day]} | " + " | ".join(f"{c:.0f}" if c else "" for c in cells) + " |")
    return "\n".join(["Minutes firing by weekday and hour:", "", head, rule, *rows])


def _rounded(seconds: float) -> timedelta:
    return timedelta(seconds=round(seconds / 60) * 60)


def _day(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%a %d %b %Y %H:%M}"
