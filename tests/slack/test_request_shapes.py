"""The request screen under hypothesis: no body or frame of any shape makes it raise, and what it
lets through, Bolt can read."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context

from bot.slack.transport.edge import _envelope, bolt_context
from bot.slack.transport.shapes import Unreadable, addressee, problem, read_body
from tests.slack_app.test_malformed_requests import DIALOG, DIALOG_PATHS, JSON_VALUES, PATHS, SKELETON, mutated

BODIES = st.one_of(
    st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6),
    st.builds(mutated, st.sampled_from(PATHS), JSON_VALUES),
    st.builds(mutated, st.sampled_from(DIALOG_PATHS), JSON_VALUES, st.just(DIALOG)),
)


@given(BODIES)
@example({"type": "view_submission", "response_urls": None})  # Bolt takes len() of a null response_urls
@example({"type": "view_submission", "response_urls": [{}, {}]})  # Bolt logs to the context's logger for two
def test_the_screen_answers_every_body_and_bolt_can_read_what_it_lets_through(body: dict[str, Any]) -> None:
    found = problem(body)
    addressee(body)
    if found is None:
        build_async_context(AsyncBoltContext(bolt_context()), body)  # as the edge and Socket Mode build it
    else:
        assert isinstance(found, str) and found


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value] + [t for v in value.values() for t in strings(v)]
    if isinstance(value, list):
        return [t for v in value for t in strings(v)]
    return []


@given(st.binary(max_size=300), st.sampled_from([None, "application/json", "application/x-www-form-urlencoded"]))
def test_reading_any_bytes_gives_an_object_or_says_why_not(raw: bytes, content_type: str | None) -> None:
    try:
        body = read_body(raw, content_type)
    except Unreadable as unreadable:
        assert str(unreadable)
    else:
        assert isinstance(body, dict)
        assert not any("\x00" in text for text in strings(body))


@given(
    st.one_of(
        st.text(max_size=200),
        JSON_VALUES.map(json.dumps),
        st.builds(mutated, st.sampled_from(PATHS), JSON_VALUES).map(
            lambda p: json.dumps({"envelope_id": "e", "type": "interactive", "payload": p})
        ),
    )
)
def test_a_socket_frame_of_any_shape_is_a_message_or_a_reason(raw: str) -> None:
    assert isinstance(_envelope(raw), dict | str)


def test_the_skeletons_pass_the_screen() -> None:
    assert problem(SKELETON) is None and problem(DIALOG) is None
