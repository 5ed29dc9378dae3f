"""Text of any shape (NUL, lone surrogates, 40 KB) is stored on every backend instead of failing the write."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.safe_text import REPLACEMENT, clean
from bot.store.repository import SqlStore
from tests.store.records import an_audit_entry

NUL = "before\x00after"
SURROGATE = "before\ud800after"
LONG = "x" * 40_000 + "\x00"
SHAPES = [NUL, SURROGATE, LONG, "😀 \u202eright-to-left\u202c"]


@pytest.mark.parametrize("text", SHAPES, ids=["nul", "lone-surrogate", "40kb", "emoji-and-rtl"])
async def test_an_outbox_message_with_any_text_is_stored_and_read_back_cleaned(store: SqlStore, text: str) -> None:
    payload = {"method": "chat.postEphemeral", "args": {"channel": "C1", "user": "U1", "text": f"no step {text}"}}
    message = await store.enqueue("C1", payload, dedupe_key=f"reply|{text[:100]}")
    assert message.payload["args"]["text"] == f"no step {clean(text)}"  # type: ignore[index]
    assert "\x00" not in str(message.payload)
    [pending] = await store.pending()
    assert pending.dedupe_key == clean(f"reply|{text[:100]}")


@pytest.mark.parametrize("text", SHAPES, ids=["nul", "lone-surrogate", "40kb", "emoji-and-rtl"])
async def test_an_audit_entry_with_any_text_is_stored_and_read_back_cleaned(store: SqlStore, text: str) -> None:
    entry = replace(an_audit_entry(f"incident {text}", run_id="run-1"), detail=text)
    await store.append_audit(entry)
    [stored] = await store.audit("run-1")
    assert stored.what == f"incident {clean(text)}" and stored.detail == clean(text)


def test_cleaning_replaces_nul_and_lone_surrogates_and_keeps_everything_else() -> None:
    assert clean(NUL) == f"before{REPLACEMENT}after"
    assert clean(SURROGATE) == f"before{REPLACEMENT}after"
    assert clean("😀 fine") == "😀 fine"
    assert len(clean(LONG)) == len(LONG)
