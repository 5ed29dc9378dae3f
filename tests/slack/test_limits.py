from __future__ import annotations

from bot.slack.blocks import limits
from bot.slack.blocks.actions import ActionValue, Verb
from bot.slack.blocks.kit import button, divider, header, section
from bot.slack.blocks.limits import clamp, split_blocks, split_text, validate_message, validate_view


def test_clamp_keeps_short_text_and_marks_cut_text_with_an_ellipsis() -> None:
    assert clamp("short", 10) == "short"
    assert clamp("x" * 20, 10) == "x" * 9 + "…"


def test_long_text_is_split_at_line_breaks_into_pieces_slack_accepts() -> None:
    text = "\n".join(f"line {n} " + "y" * 80 for n in range(100))
    pieces = split_text(text)
    assert len(pieces) > 1
    assert all(len(p) <= limits.SECTION_TEXT for p in pieces)
    assert "\n".join(pieces) == text


def test_a_single_line_longer_than_a_section_is_cut_hard() -> None:
    pieces = split_text("z" * 7000)
    assert [len(p) for p in pieces] == [3000, 3000, 1000]


def test_many_blocks_are_spread_over_messages_of_at_most_fifty() -> None:
    blocks = [section(f"part {n}") for n in range(120)]
    messages = split_blocks(blocks)
    assert [len(m) for m in messages] == [50, 50, 20]
    assert [b for m in messages for b in m] == blocks


def test_a_long_section_becomes_several_sections_in_order() -> None:
    messages = split_blocks([header("Plan"), section("\n".join("a" * 100 for _ in range(90)))])
    assert len(messages) == 1
    assert [b["type"] for b in messages[0]] == ["header", "section", "section", "section", "section"]
    assert not validate_message(messages[0])


def test_no_message_starts_with_a_divider() -> None:
    blocks = [section(str(n)) for n in range(50)] + [divider(), section("after")]
    messages = split_blocks(blocks)
    assert messages[1][0]["type"] == "section"


def test_the_validator_names_every_broken_limit() -> None:
    value = ActionValue(run="r")
    too_long_button = button("ok", Verb.APPROVE, value)
    too_long_button["text"]["text"] = "L" * 80
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "s" * 3001}},
        {"type": "actions", "block_id": "a", "elements": [too_long_button, button("x", Verb.APPROVE, value)]},
        {"type": "context", "block_id": "a", "elements": []},
    ] + [divider()] * 47
    problems = validate_message(blocks)
    joined = "\n".join(problems)
    assert "51 blocks" in joined
    assert "header text has 151 characters, Slack allows 150" in joined
    assert "section text has 3001 characters" in joined
    assert "button text has 80 characters, Slack allows 75" in joined
    assert "our button label has 80 characters" in joined
    assert "action_id 'ion:approve' is used twice in one block" in joined
    assert "block_id 'a' is used twice" in joined
    assert "0 context elements" in joined


def test_view_validation_checks_the_title_and_metadata() -> None:
    problems = validate_view(
        {
            "type": "modal",
            "title": {"type": "plain_text", "text": "t" * 25},
            "private_metadata": "m" * 3001,
            "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "x"}, "element": {}}],
        }
    )
    assert any("title has 25 characters, Slack allows 24" in p for p in problems)
    assert any("private_metadata" in p for p in problems)
    assert any("needs a submit button" in p for p in problems)
