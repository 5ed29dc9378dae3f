"""`ionbot backtest` on the embedded default: Markdown and PNGs in --out, the summary kept in the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from bot.backtest.output import latest_summary
from bot.cli import main
from bot.store.repository import SqlStore
from tests.triggers.builders import SEED_TRIGGERS, seed_metrics


def small_runbook(folder: Path) -> Path:
    path = folder / "small.yaml"
    data = {
        "id": "small",
        "title": "Small",
        "calendar": {"working_days": 5, "timezone": "America/Chicago"},
        "environments": [{"name": "production", "project": "ion-mentoring", "production": True}],
        "metrics": seed_metrics(),
        "triggers": SEED_TRIGGERS,
        "schedule": {"daily_report_at": "17:00"},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_cli_writes_the_report_and_charts_and_keeps_the_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'ion.db'}"
    monkeypatch.setenv("ION_DATABASE_URL", database)
    out = tmp_path / "out"

    code = main(["backtest", str(small_runbook(tmp_path)), "--weeks", "3", "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == 0
    report = (out / "backtest.md").read_text(encoding="utf-8")
    assert report.startswith("# Backtest: small, production")
    # the sim's history has a Monday batch job: a red line naming its rhythm
    assert "p95_latency_ms > 100 for 5m would have fired" in report and "every Monday 09:0" in report
    assert "incidents > 0 (trigger production_incident): incidents is counted by the bot" in report
    charts = sorted(p.name for p in (out / "charts").iterdir())
    assert charts == ["cache_hit_rate_pct.png", "db_replication_lag_ms.png", "error_rate_pct.png", "p95_latency_ms.png"]
    assert all((out / "charts" / name).read_bytes().startswith(b"\x89PNG") for name in charts)
    assert "](charts/p95_latency_ms.png)" in report
    assert printed.startswith("Backtest of small on production, 3 weeks of history: 4 conditions,")
    assert f"Report: {out / 'backtest.md'}" in printed

    async def stored() -> dict[str, object] | None:
        store = SqlStore.open(database)
        try:
            return await latest_summary(store, "small")
        finally:
            await store.close()

    summary = asyncio.run(stored())
    assert summary is not None
    assert summary["link"] == str((out / "backtest.md").resolve())
    assert "p95_latency_ms > 100 for 5m" in summary["red_conditions"]  # type: ignore[operator]
    assert summary["weeks"] == 3.0 and summary["environment"] == "production"


def test_a_bad_environment_is_refused_in_a_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["backtest", str(small_runbook(tmp_path)), "--env", "prod", "--out", str(tmp_path / "o")])
    assert code == 1
    assert (
        "The runbook has no environment 'prod'; it has production. Nothing was backtested." in capsys.readouterr().err
    )
    assert not (tmp_path / "o").exists()
