from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.engine.calendar import RunCalendar, where_are_we
from bot.engine.clock import VirtualClock
from tests.engine.harness import START, runbook


class TestWorkingDays:
    def test_day_numbers_skip_the_weekend(self) -> None:
        cal = RunCalendar(runbook(), START)  # Thursday 29 Oct 2026
        assert cal.date_of(1) == date(2026, 10, 29)
        assert cal.date_of(2) == date(2026, 10, 30)
        assert cal.date_of(3) == date(2026, 11, 2)  # Monday
        assert cal.day_of(date(2026, 10, 31)) is None  # Saturday
        assert cal.day_of(date(2026, 11, 2)) == 3

    def test_a_weekend_start_makes_monday_day_one(self) -> None:
        cal = RunCalendar(runbook(), date(2026, 10, 31))
        assert cal.date_of(1) == date(2026, 11, 2)

    def test_days_outside_the_run_are_refused_with_a_sentence(self) -> None:
        cal = RunCalendar(runbook(), START)
        with pytest.raises(ValueError, match="outside this run"):
            cal.date_of(11)
        assert cal.day_of(date(2026, 10, 28)) is None


class TestDaylightSavingChange:
    def test_a_nine_oclock_window_stays_local_across_the_november_change(self) -> None:
        cal = RunCalendar(runbook(), START)
        step = runbook().step("day3.1")
        assert step is not None
        before = cal.at(cal.date_of(2), time(9, 0))  # Friday 30 Oct, CDT (UTC-5)
        after = cal.window_of(step)  # Monday 2 Nov, CST (UTC-6)
        assert before == datetime(2026, 10, 30, 14, 0, tzinfo=UTC)
        assert after is not None
        assert after[0] == datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
        assert after[1] - after[0] == timedelta(hours=2)

    def test_today_is_the_local_date_not_the_utc_date(self) -> None:
        cal = RunCalendar(runbook(), START)
        late_friday_local = datetime(2026, 10, 31, 4, 30, tzinfo=UTC)  # Fri 23:30 CDT
        assert cal.today(late_friday_local) == 2


class TestWhereAreWe:
    def test_overdue_lists_passed_windows_that_are_not_done(self) -> None:
        rb = runbook()
        cal = RunCalendar(rb, START)
        now = datetime(2026, 10, 30, 16, 0, tzinfo=UTC)  # Day 2, 11:00 local
        position = where_are_we(rb, cal, now, finished={"day1.1"})
        assert position.day == 2
        assert [s.step.id for s in position.today] == ["day2.1", "day2.2", "day2.3"]
        assert [s.step.id for s in position.overdue] == ["day2.1"]
        assert position.next_step is not None and position.next_step.step.id == "day2.1"


class TestVirtualClock:
    async def test_sleepers_wake_in_deadline_order_as_time_advances(self) -> None:
        clock = VirtualClock(datetime(2026, 10, 29, tzinfo=UTC))
        woke: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(f"{name}@{clock.now():%H:%M}")

        import asyncio

        tasks = [asyncio.create_task(sleeper("late", 600)), asyncio.create_task(sleeper("early", 60))]
        await clock.advance(timedelta(minutes=5))
        assert woke == ["early@00:01"]
        await clock.advance(timedelta(minutes=5))
        assert woke == ["early@00:01", "late@00:10"]
        await asyncio.gather(*tasks)

    def test_a_naive_start_is_refused(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            VirtualClock(datetime(2026, 10, 29))
