from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.console.render import render_text
from bot.engine.ports import Change
from bot.slack.blocks import (
    ACTION_ID_PATTERN,
    ActionValue,
    Message,
    Verb,
    alert_card,
    confirmation_word,
    gate_card,
    help_message,
    home_view,
    parse_action_id,
    progress_message,
    rollback_card,
    rollback_confirm_modal,
    run_confirm_modal,
    status_card,
    step_card,
    today_card,
    typed_confirmation_errors,
)
from bot.slack.blocks.limits import validate_message, validate_view
from bot.slack.blocks.views import (
    AlertCardView,
    AlertLineView,
    CardMeta,
    CheckView,
    GateCardView,
    HomeView,
    LatestStepView,
    MetricLineView,
    ProgressEntry,
    ProgressView,
    RollbackCardView,
    SignoffView,
    StatusCardView,
    StepCardView,
    StepLineView,
    TickView,
)

from .conftest import AT, make_gate, make_step, plan

META = CardMeta(run_id="run-1", card_version=7, timezone="America/Chicago")
DRY = CardMeta(run_id="run-1", card_version=7, dry_run=True)


def _elements(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        if block["type"] == "actions":
            found.extend(block["elements"])
    return found


def _buttons(message: Message) -> dict[str, dict[str, Any]]:
    return {e["text"]["text"]: e for e in _elements(message.blocks) if e["type"] == "button"}


def _all_fit(message: Message) -> None:
    for part in message.parts():
        assert validate_message(part.blocks) == []


def gate_view(meta: CardMeta = META, decision: str | None = None) -> GateCardView:
    return GateCardView(
        meta=meta,
        gate=make_gate(),
        checks=(
            CheckView("Production availability", True, 99.97, 99.95, "pct"),
            CheckView("Error rate", None),
        ),
        ticks=(TickView("trained", "lee", AT),),
        signoffs=(SignoffView("lead", "U0LEE", AT),),
        decision=decision,
        decided_by="U0MGR" if decision else None,
        decided_at=AT if decision else None,
    )


def alert_view(meta: CardMeta = META, state: str = "open") -> AlertCardView:
    return AlertCardView(
        meta=meta,
        alert_id="al-1",
        title="Error rate above 1%",
        condition="error_rate_pct > 1 for 5m",
        value=1.8,
        threshold=1.0,
        unit="pct",
        held_for=timedelta(minutes=7),
        opened_at=AT,
        latest_step=LatestStepView("day2.1", "Scale down", "production", AT),
        oncall_group="S0ONCALL",
        state=state,
    )


def rollback_view(meta: CardMeta = META) -> RollbackCardView:
    return RollbackCardView(
        meta=meta,
        step_id="day2.1",
        step_title="Scale down",
        environment="production",
        fingerprint="fp-abcdef0123456",
        restores=(Change("ion-mentoring-api us-central1", "minInstances", 2, 3),),
        applied_at=AT,
        applied_by="U0LEE",
    )


def status_view(meta: CardMeta = META) -> StatusCardView:
    return StatusCardView(
        meta=meta,
        runbook_title="Week 17",
        run_state="active",
        day=2,
        day_title="Cloud Run scaling",
        on_date=date(2025, 10, 28),
        steps=(StepLineView("day2.1", "Scale down", "09:00-10:00", ()),),
        open_alerts=1,
        next_step="day2.1",
    )


def all_messages(meta: CardMeta) -> list[Message]:
    step = StepCardView(meta=meta, step=make_step(), plans=(plan("production"),))
    progress = ProgressView(meta, "day2.1", "production", entries=(ProgressEntry(AT, "snapshot taken", True),))
    return [
        step_card(step),
        gate_card(gate_view(meta)),
        alert_card(alert_view(meta)),
        rollback_card(rollback_view(meta)),
        status_card(status_view(meta)),
        today_card(status_view(meta)),
        progress_message(progress),
        help_message(dry_run=meta.dry_run),
    ]


@pytest.mark.parametrize("meta", [META, DRY])
def test_every_card_fits_slack_limits(meta: CardMeta) -> None:
    for message in all_messages(meta):
        _all_fit(message)
        assert message.text


def test_dry_run_puts_dry_run_in_the_header_of_every_card() -> None:
    for message in all_messages(DRY):
        headers = [b for b in message.blocks if b["type"] == "header"]
        if headers:
            assert headers[0]["text"]["text"].startswith("DRY RUN")
        else:
            assert "DRY RUN" in message.text
    home = home_view(HomeView(dry_run=True))
    assert home["blocks"][0]["text"]["text"].startswith("DRY RUN")


def test_the_step_card_shows_the_plan_as_diffs_and_who_ticked_what(step_view: StepCardView) -> None:
    text = render_text(step_card(step_view).payload())
    assert "ion-mentoring-api us-central1-0 (production): `minInstances 3 → 2`" in text
    assert "1. [x] Check number 1 is fine (lee, 10:02)" in text
    assert "2. [ ] Check number 2 is fine" in text
    assert "Checklist (1/3 ticked)" in text
    assert "staging ✅ done since 10:02 by @U0LEE" in text
    assert "• error_rate_pct < 0.5 for 30m" in text


def test_the_step_card_buttons_follow_the_action_id_scheme_and_carry_the_card_state(
    step_view: StepCardView,
) -> None:
    buttons = _buttons(step_card(step_view))
    assert list(buttons) == ["Approve", "Reject", "Run on production", "Roll back staging", "Hold"]
    for element in _elements(step_card(step_view).blocks):
        assert re.match(ACTION_ID_PATTERN, element["action_id"])
    run = buttons["Run on production"]
    assert parse_action_id(run["action_id"]) == (Verb.RUN, "production")
    value = ActionValue.decode(run["value"])
    assert value == ActionValue(
        run="run-1",
        step="day2.1",
        env="production",
        fingerprint="fp-production-0123456789abcdef",
        card_version=4,
    )
    assert "type the service name" in run["confirm"]["text"]["text"]


def test_every_mutating_button_asks_for_confirmation(step_view: StepCardView) -> None:
    cards = [
        step_card(step_view),
        gate_card(gate_view()),
        alert_card(alert_view()),
        rollback_card(rollback_view()),
    ]
    for card in cards:
        for label, element in _buttons(card).items():
            verb = parse_action_id(element["action_id"])
            assert verb is not None
            if verb[0] in {Verb.APPROVE, Verb.REJECT, Verb.RUN, Verb.ROLLBACK, Verb.HOLD, Verb.GATE_DECIDE}:
                assert "confirm" in element, label


def test_a_step_with_a_very_long_checklist_and_plan_is_split_into_valid_messages() -> None:
    view = StepCardView(meta=META, step=make_step(checklist=430), plans=(plan("staging", 80), plan("production", 80)))
    message = step_card(view)
    assert validate_message(message.blocks) != []  # too big for one message ...
    parts = message.parts()
    assert len(parts) > 1  # ... so it goes out in several
    for part in parts:
        assert validate_message(part.blocks) == []
    checkbox_blocks = [b for p in parts for b in p.blocks if b.get("block_id", "").startswith("tick:")]
    options = [o for b in checkbox_blocks for o in b["elements"][0]["options"]]
    assert len(options) == 430
    assert parts[1].text.endswith(f"(part 2 of {len(parts)})")


def test_user_text_in_a_step_cannot_inject_mentions_or_links() -> None:
    step = make_step().model_copy(update={"objective": "<!channel> see <https://evil.example|docs> *now*"})
    text = json.dumps(step_card(StepCardView(meta=META, step=step)).blocks)
    assert "<!channel>" not in text and "<https://evil" not in text


def test_a_checkbox_value_names_its_item_within_slacks_150_characters(step_view: StepCardView) -> None:
    boxes = [e for e in _elements(step_card(step_view).blocks) if e["type"] == "checkboxes"]
    option = boxes[0]["options"][0]
    assert ActionValue.decode(option["value"]) == ActionValue(run="run-1", step="day2.1", item="item-1", card_version=4)
    assert boxes[0]["action_id"] == "ion:tick"


def test_the_gate_card_shows_checks_sections_and_sign_offs_then_the_decision() -> None:
    text = render_text(gate_card(gate_view()).payload())
    assert "✅ Production availability: 99.97% (threshold 99.95%)" in text
    assert "❔ Error rate: no data" in text
    assert "1. [x] All team members trained (lee, 10:02)" in text
    assert "13. [ ] Infrastructure item 11" in text
    assert "✅ lead: @U0LEE 10:02" in text and "⌛ manager: awaited" in text
    assert "[YES - Proceed] [NO - Postpone]" in text
    decided = render_text(gate_card(gate_view(decision="no")).payload())
    assert "Decision: NO by @U0MGR at 10:02" in decided
    assert "[YES - Proceed]" not in decided


def test_gate_decisions_carry_yes_or_no_in_their_value() -> None:
    buttons = _buttons(gate_card(gate_view()))
    yes = ActionValue.decode(buttons["YES - Proceed"]["value"])
    assert yes is not None and yes.decision == "yes" and yes.step == "preflight"
    assert buttons["NO - Postpone"]["action_id"] == "ion:gate_decide:no"


def test_the_alert_card_mentions_on_call_and_names_the_latest_step() -> None:
    message = alert_card(alert_view())
    text = render_text(message.payload(), names={"S0ONCALL": "sre-oncall"})
    assert "Value: 1.8% (threshold 1%)" in text
    assert "For: 7m" in text
    assert "Latest production step: day2.1 Scale down (production, finished 10:02)" in text
    assert "@sre-oncall please look at this now." in text
    assert "[Roll back] [Acknowledge] [Hold]" in text
    assert "<!subteam^S0ONCALL>" in message.text  # the notification pings on-call too
    value = ActionValue.decode(_buttons(message)["Acknowledge"]["value"])
    assert value is not None and value.alert == "al-1"


def test_an_acknowledged_alert_keeps_roll_back_and_hold_since_its_countdown_still_runs() -> None:
    view = replace(alert_view(state="acknowledged"), acknowledged_by="U0SAM", auto_rollback_at=AT)
    message = alert_card(view)
    assert list(_buttons(message)) == ["Roll back", "Hold"]
    text = render_text(message.payload())
    assert "Acknowledged by @U0SAM." in text
    assert "Automatic rollback at 10:02 unless held." in text
    _all_fit(message)


def test_a_held_alert_offers_only_roll_back_and_a_resolved_one_nothing() -> None:
    assert list(_buttons(alert_card(alert_view(state="held")))) == ["Roll back"]
    assert "Automatic rollback" not in render_text(
        alert_card(replace(alert_view(state="held"), auto_rollback_at=AT)).payload()
    )
    assert _buttons(alert_card(alert_view(state="resolved"))) == {}


def test_an_alert_of_a_paused_run_says_its_rollback_waits_and_offers_roll_back_now() -> None:
    message = alert_card(replace(alert_view(), auto_rollback_paused=True))
    text = render_text(message.payload())
    assert "Auto-rollback paused with the run; press Roll back to do it now." in text
    assert "Automatic rollback at" not in text
    assert list(_buttons(message)) == ["Roll back", "Acknowledge", "Hold"]


def test_the_rollback_card_lists_exactly_what_will_be_restored() -> None:
    text = render_text(rollback_card(rollback_view()).payload())
    assert "ion-mentoring-api us-central1: `minInstances 2 → 3`" in text
    assert "[Roll back now]" in text
    refused = rollback_card(
        RollbackCardView(META, "day2.1", "Scale down", "production", "fp", (), refusal="Nothing was applied yet.")
    )
    assert _buttons(refused) == {}
    assert "Nothing was applied yet." in render_text(refused.payload())


def test_the_run_modal_shows_the_diff_and_asks_for_the_service_name() -> None:
    step = make_step()
    meta = ActionValue(run="run-1", step="day2.1", env="production", fingerprint="fp-1", card_version=7)
    modal = run_confirm_modal(step, plan("production", 3), meta)
    assert validate_view(modal) == []
    assert modal["callback_id"] == "ion:confirm_run"
    assert ActionValue.decode(modal["private_metadata"]) == meta
    text = render_text(modal)
    assert "Type ion-mentoring-api to confirm" in text
    assert "`minInstances 3 → 2`" in text
    assert confirmation_word(step) == "ion-mentoring-api"
    assert typed_confirmation_errors(" ion-mentoring-api ", "ion-mentoring-api") is None
    errors = typed_confirmation_errors("ion-api", "ion-mentoring-api")
    assert errors == {"confirm_name": "Type ion-mentoring-api exactly to confirm; nothing has been run yet."}


def test_a_modal_with_a_huge_plan_still_fits() -> None:
    meta = ActionValue(run="run-1", step="day2.1", env="production", fingerprint="fp-1")
    assert validate_view(run_confirm_modal(make_step(), plan("production", 400), meta, dry_run=True)) == []


def test_the_rollback_modal_carries_its_fingerprint() -> None:
    meta = ActionValue(run="run-1", step="day2.1", env="production", fingerprint="fp-abcdef0123456")
    modal = rollback_confirm_modal(rollback_view(DRY), "ion-mentoring-api", meta)
    assert validate_view(modal) == []
    assert modal["title"]["text"] == "DRY RUN Confirm rollback"
    assert json.loads(modal["private_metadata"])["fingerprint"] == "fp-abcdef0123456"


def test_app_home_shows_the_run_alerts_and_metrics_against_target() -> None:
    home = home_view(
        HomeView(
            active=status_view(),
            alerts=(AlertLineView("al-1", "Error rate above 1%", "open", AT),),
            metrics=(
                MetricLineView("Cache hit rate", "pct", 79.0, 82.0, 75.0, "higher"),
                MetricLineView("Query time", "ms", 17.2, 18.0, 15.0, "lower"),
            ),
        )
    )
    assert validate_view(home) == []
    text = render_text(home)
    assert "Cache hit rate: 79% (baseline 82%, target 75%) ✅" in text
    assert "Query time: 17.2 ms (baseline 18 ms, target 15 ms) ⚠" in text
    assert "🚨 Error rate above 1% (open)" in text
    assert "day2.1 `09:00-10:00` Scale down" in text


def test_help_lists_every_command_and_one_topic_alone() -> None:
    text = render_text(help_message().payload())
    assert "/ion rollback [ID|last]" in text
    assert help_message("cost").text.startswith("/ion cost SERVICE AMOUNT")


def test_progress_keeps_the_latest_lines_and_says_how_it_ended() -> None:
    entries = tuple(ProgressEntry(AT + timedelta(seconds=n), f"target {n} applied", True) for n in range(100))
    message = progress_message(ProgressView(META, "day2.1", "production", entries=entries, finished="succeeded"))
    _all_fit(message)
    text = render_text(message.payload())
    assert "Done: day2.1 on production" in text
    assert "… 60 earlier lines" in text
    assert "target 99 applied" in text


def test_a_stale_or_foreign_value_decodes_to_none() -> None:
    assert ActionValue.decode("not json") is None
    assert ActionValue.decode('{"step": "day2.1"}') is None
    assert ActionValue.decode('{"run": "r", "card_version": "7"}') is None
    assert ActionValue.decode('{"run": "r", "extra": 1}') == ActionValue(run="r")
    assert parse_action_id("other:thing") is None
    assert parse_action_id("ion:launch") is None


def test_times_show_in_the_team_time_zone() -> None:
    at = datetime(2025, 10, 28, 22, 30, tzinfo=UTC)
    view = StepCardView(meta=META, step=make_step(), ticks=(TickView("item-2", "kim", at),))
    assert "(kim, 17:30)" in render_text(step_card(view).payload())
