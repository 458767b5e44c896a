"""Scheduler ticks: intervals, daily and weekly wall-clock times in IANA zones, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from subscriptions.models import Workflow
from subscriptions.schedules import DEFAULT_TIMEZONE, Schedule, next_tick, user_timezone, zone


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def ticks(schedule: Schedule, tz: str, start: str, count: int) -> list[str]:
    out, now = [], utc(start)
    for _ in range(count):
        now = next_tick(schedule, tz, now)
        out.append(datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M"))
    return out


def test_daily_follows_the_wall_clock_across_the_spring_change() -> None:
    daily = Schedule(every="daily", at="09:00")
    # Los Angeles moves from PST (UTC-8) to PDT (UTC-7) on 2026-03-08.
    assert ticks(daily, "America/Los_Angeles", "2026-03-06T18:00:00", 3) == [
        "2026-03-07 17:00",
        "2026-03-08 16:00",
        "2026-03-09 16:00",
    ]


def test_a_skipped_wall_time_fires_once_after_the_gap_and_a_repeated_one_once() -> None:
    assert ticks(Schedule(every="daily", at="02:30"), "America/Los_Angeles", "2026-03-08T00:00:00", 2) == [
        "2026-03-08 10:30",  # 02:30 does not exist that day: 03:30 PDT
        "2026-03-09 09:30",
    ]
    # 01:30 happens twice on 2026-11-01 (PDT, then PST): the first one only.
    assert ticks(Schedule(every="daily", at="01:30"), "America/Los_Angeles", "2026-11-01T00:00:00", 2) == [
        "2026-11-01 08:30",
        "2026-11-02 09:30",
    ]


def test_weekly_on_its_weekdays_in_its_zone() -> None:
    weekly = Schedule(every="weekly", at="08:15", weekdays=["monday", "thursday"])
    assert ticks(weekly, "Europe/Berlin", "2026-03-26T00:00:00", 3) == [
        "2026-03-26 07:15",  # Thursday, CET
        "2026-03-30 06:15",  # Monday, CEST since the 29th
        "2026-04-02 06:15",
    ]


def test_intervals_are_elapsed_time_unmoved_by_dst() -> None:
    every = Schedule(every="minutes", interval=15)
    assert ticks(every, "America/Los_Angeles", "2026-03-08T09:50:00", 3) == [
        "2026-03-08 10:00",
        "2026-03-08 10:15",
        "2026-03-08 10:30",
    ]
    assert next_tick(Schedule(every="seconds", interval=30), "", 100.0) == 120.0


@given(st.floats(min_value=0, max_value=4e9), st.sampled_from(["daily", "weekly", "hours"]))
def test_the_next_tick_is_always_ahead_and_within_a_week(after: float, every: str) -> None:
    schedule = Schedule.model_validate({"every": every, "weekdays": ["sunday"] if every == "weekly" else []})
    tick = next_tick(schedule, "Australia/Lord_Howe", after)  # a half-hour DST zone
    assert after < tick <= after + 8 * 86_400


def test_the_users_zone_then_the_schedules_then_los_angeles() -> None:
    daily = Schedule(every="daily", timezone="Asia/Tokyo")
    assert user_timezone({"timezone": "Europe/Paris"}, daily) == "Europe/Paris"
    assert user_timezone({"timezone": "Mars/Olympus"}, daily) == "Asia/Tokyo"
    assert user_timezone({}, Schedule(every="daily")) == DEFAULT_TIMEZONE


@pytest.mark.parametrize(
    "bad",
    [
        {"every": "daily", "at": "24:00"},
        {"every": "daily", "timezone": "Nowhere/City"},
        {"every": "weekly"},
        {"every": "seconds", "interval": 5},
        {"every": "fortnightly"},
    ],
)
def test_bad_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Schedule.model_validate(bad)


def test_a_scheduler_workflow_needs_its_schedule_and_only_it_has_one() -> None:
    base = {"id": "wf", "project": "p1", "integration": "app"}
    with pytest.raises(ValidationError, match="schedule"):
        Workflow.model_validate({**base, "trigger_type": "scheduler"})
    with pytest.raises(ValidationError, match="schedule"):
        Workflow.model_validate({**base, "schedule": {"every": "daily"}})
    assert Workflow.model_validate({**base, "trigger_type": "scheduler", "schedule": {"every": "daily"}}).schedule


@given(st.text(max_size=70))
def test_any_zone_name_is_a_zone_or_none(name: str) -> None:
    assert zone(name) is None or str(zone(name)) == name
