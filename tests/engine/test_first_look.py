"""A request's first look (bot/engine/deliveries.py): the channel's run and the settings read together
are each handed once, to the first reader, and never once something may have been written since."""

from __future__ import annotations

import pytest

from bot.engine import deliveries
from bot.engine.deliveries import handling, keep_first_look, looked_run, looked_value
from bot.engine.units import unit_of_work
from tests.store.records import a_run


def test_each_looked_thing_is_handed_once_then_the_database_is_asked_again() -> None:
    run = a_run()
    with handling("trigger:T1", "U-sam"):
        keep_first_look("C1", run, {"delegations": [], "other": None})
        assert looked_run("C1") == (True, run)
        assert looked_run("C1") == (False, None)
        assert looked_value("delegations") == (True, [])
        assert looked_value("other") == (True, None)  # unset is known too: no second read for it
        assert looked_value("delegations") == (False, None)
        assert looked_run("C2") == (False, None)  # another channel was not looked at


def test_nothing_is_kept_outside_a_delivery() -> None:
    keep_first_look("C1", a_run(), {"delegations": []})
    assert looked_run("C1") == (False, None)
    assert looked_value("delegations") == (False, None)


def test_once_the_delivery_has_written_the_look_is_no_longer_handed_out() -> None:
    with handling("trigger:T1", "U-sam") as delivery:
        keep_first_look("C1", a_run(), {"delegations": []})
        assert delivery is not None
        delivery.owned = True  # its row committed with its first write
        assert looked_run("C1") == (False, None)
        assert looked_value("delegations") == (False, None)


async def test_inside_a_unit_of_work_the_look_is_not_handed_out() -> None:
    """A unit may have written what the look could not see; its reads go to its own transaction."""
    with handling("trigger:T1", "U-sam"):
        keep_first_look("C1", a_run(), {"delegations": []})
        async with unit_of_work():
            assert looked_run("C1") == (False, None)
        assert looked_run("C1") != (False, None)  # the unit rolled back or committed nothing: still good


def test_a_look_older_than_a_second_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """A handler that first waited on something slow reads the run afresh."""
    now = [100.0]
    monkeypatch.setattr(deliveries, "look_clock", lambda: now[0])
    with handling("trigger:T1", "U-sam"):
        keep_first_look("C1", a_run(), {"delegations": []})
        now[0] += deliveries.LOOK_FRESH_SECONDS + 0.001
        assert looked_run("C1") == (False, None)
        assert looked_value("delegations") == (False, None)
