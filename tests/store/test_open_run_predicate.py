"""The SQL that finds a channel's open run (the answer path's read, and the partial unique index that
lets a channel hold one) names exactly the states the engine calls open."""

from __future__ import annotations

import re

from bot.engine.records import OPEN_RUN_STATES
from bot.store.tables.runs import OPEN_RUN_SQL


def test_the_open_run_predicate_names_exactly_the_open_states() -> None:
    named = set(re.findall(r"'([a-z_]+)'", OPEN_RUN_SQL.text))
    assert named == {state.value for state in OPEN_RUN_STATES}
