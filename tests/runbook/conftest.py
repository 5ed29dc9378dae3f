"""A minimal valid runbook, line-numbered in comments, that the defect table edits one defect at a time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

MINI = """\
id: mini
title: Mini
calendar:
  working_days: 2
environments:
  - name: production
    project: p
    base_url: https://api.example.dev
services:
  - name: api
    regions: [us-central1]
metrics:
  - id: error_rate_pct
    title: Error rate
    unit: pct
    query: {filter: 'metric.type="run.googleapis.com/request_count"'}
roles:
  - {id: lead, title: Lead}
days:
  - number: 1
    title: One
    steps:
      - id: day1.1
        title: Scale
        window: {start: "09:00", end: "10:00"}
        actions:
          - kind: cloud_run.scale
            service: api
            regions: [us-central1]
            min_instances: 2
        acceptance:
          - error_rate_pct < 0.5 over 30m
        approvals:
          - {role: lead}
triggers:
  - id: errors
    title: Errors
    condition: error_rate_pct > 1 for 5m
    auto_rollback_after: 5m
schedule:
  daily_report_at: "17:00"
"""
# Line numbers used by the tests: 4 working_days, 20 day number, 23 step id, 25 window,
# 27 kind, 29 regions, 32 acceptance item, 34 approval, 38 trigger condition,
# 39 auto_rollback_after, 41 daily_report_at.


@pytest.fixture
def write_runbook(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text to a file and return its path."""

    def write(text: str, name: str = "rb.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
