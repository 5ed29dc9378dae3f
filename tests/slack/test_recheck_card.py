"""The step card says why an approval expired when a metric re-check failed before the run."""

from __future__ import annotations

import json

import pytest

from bot.engine.errors import Refused
from bot.slack.blocks import step_card
from bot.slack.blocks.from_views import step_card_view
from tests.engine.harness import CHANNEL, sam
from tests.engine.test_metric_recheck import approved, rechecked, rechecked_runbook


async def test_the_card_of_a_lane_whose_recheck_failed_says_its_approval_expired_and_why() -> None:
    h = await rechecked()
    fingerprint = await approved(h)
    h.checker.values["p95_latency_ms"] = 72.0
    with pytest.raises(Refused):
        await h.rollout.confirm_run(CHANNEL, "day2.1", "production", sam, fingerprint)
    view = await h.rollout.step_view(CHANNEL, "day2.1")
    card = step_card(step_card_view(view, [], rechecked_runbook(), dry_run=False))
    text = json.dumps(card.blocks)
    assert "approval expired: metric re-check failed: p95_latency_ms &lt; 50 read 72" in text
