"""The Scheduler trigger: when a workflow with ``trigger_type: scheduler`` runs, in each user's time zone.

``every``: ``seconds``, ``minutes`` or ``hours`` (``interval`` of them: elapsed time, on the multiples of the
interval since the Unix epoch, so a DST change neither skips nor repeats a tick), ``daily`` at ``at`` (``HH:MM``),
or ``weekly`` at ``at`` on ``weekdays``. Daily and weekly ticks are wall-clock times in the user's IANA time zone:
the connected user's ``metadata.timezone`` when it names one, else the schedule's ``timezone``, else
``America/Los_Angeles`` (the platform's default). DST is zoneinfo's: a time the spring change skips (02:30) fires
at the same instant an hour later on the clock (03:30); a time the autumn change repeats fires once, the first time.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_TIMEZONE = "America/Los_Angeles"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_STEP_S = {"seconds": 1, "minutes": 60, "hours": 3600}
_AT = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone ``name`` names, or None (never an exception, whatever the text)."""
    if not name or len(name) > 64 or name.startswith(("/", ".")) or ".." in name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    every: Literal["seconds", "minutes", "hours", "daily", "weekly"]
    interval: int = Field(default=1, ge=1, le=100_000)
    at: str = "09:00"
    weekdays: list[Weekday] = Field(default_factory=list, max_length=7)
    timezone: str | None = None

    @field_validator("at")
    @classmethod
    def _at(cls, value: str) -> str:
        if not _AT.fullmatch(value):
            raise ValueError("at is a 24-hour time, HH:MM")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None and zone(value) is None:
            raise ValueError("timezone is not an IANA time zone (like America/New_York)")
        return value

    @model_validator(mode="after")
    def _weekly(self) -> Schedule:
        if self.every == "weekly" and not self.weekdays:
            raise ValueError("a weekly schedule names its weekdays")
        if self.every in _STEP_S and self.interval * _STEP_S[self.every] < 10:
            raise ValueError("a schedule runs at most every 10 seconds")
        return self

    @property
    def wall_clock(self) -> bool:
        """Whether its ticks depend on the time zone (daily, weekly)."""
        return self.every not in _STEP_S


def user_timezone(metadata: dict[str, Any], schedule: Schedule) -> str:
    named = metadata.get("timezone")
    if isinstance(named, str) and zone(named) is not None:
        return named
    return schedule.timezone or DEFAULT_TIMEZONE


def next_tick(schedule: Schedule, timezone: str, after: float) -> float:
    """The first tick strictly after ``after`` (unix s)."""
    if not schedule.wall_clock:
        step = schedule.interval * _STEP_S[schedule.every]
        return (after // step + 1) * step
    tz = zone(timezone) or ZoneInfo(DEFAULT_TIMEZONE)
    hour, minute = (int(p) for p in schedule.at.split(":"))
    day = datetime.fromtimestamp(after, tz).date()
    for ahead in range(9):
        date = day + timedelta(days=ahead)
        if schedule.every == "weekly" and WEEKDAYS[date.weekday()] not in schedule.weekdays:
            continue
        # fold=0: a repeated wall time is its first occurrence; a skipped one maps past the gap.
        tick = datetime(date.year, date.month, date.day, hour, minute, tzinfo=tz).timestamp()
        if tick > after:
            return tick
    raise ValueError("no tick within nine days")  # unreachable: a weekly schedule has a weekday every 7 days


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
