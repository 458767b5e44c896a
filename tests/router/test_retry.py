from __future__ import annotations

import contextlib
import email.utils
import json
import math

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from router.delivery.retry import (
    DEFAULT_POLICY,
    DEFAULT_SCHEDULE_S,
    RetryPolicy,
    Verdict,
    classify,
    parse_retry_after,
)
from tests.router.conftest import make_settings

NOW = 1_700_000_000.0


def test_default_is_svix_schedule() -> None:
    assert DEFAULT_POLICY.schedule_s == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert DEFAULT_POLICY.attempts == 8
    assert DEFAULT_POLICY.total_s == 99_305  # 27 h 35 min 5 s
    assert DEFAULT_POLICY.jitter == 0.2
    assert DEFAULT_POLICY.to_text() == "5s,5m,30m,2h,5h,10h,10h"


@pytest.mark.parametrize(("rand", "factor"), [(0.0, 0.8), (0.5, 1.0), (0.75, 1.1)])
def test_delay_is_jittered_schedule(rand: float, factor: float) -> None:
    for attempt, base in enumerate(DEFAULT_SCHEDULE_S, start=1):
        assert DEFAULT_POLICY.delay_s(attempt, None, lambda: rand) == pytest.approx(base * factor)


def test_no_delay_after_last_attempt() -> None:
    assert DEFAULT_POLICY.delay_s(8, None, lambda: 0.5) is None
    assert DEFAULT_POLICY.delay_s(9, 5.0, lambda: 0.5) is None  # a Retry-After doesn't buy an extra attempt
    assert RetryPolicy(()).delay_s(1, None, lambda: 0.5) is None
    with pytest.raises(ValueError):
        DEFAULT_POLICY.delay_s(0, None, lambda: 0.5)


@pytest.mark.parametrize(
    ("retry_after_s", "expected"),
    [
        (None, 300.0),
        (10.0, 300.0),  # shorter than the schedule: the schedule wins (no busy loop on "Retry-After: 0")
        (-5.0, 300.0),
        (900.0, 900.0),  # longer: obeyed
        (10 * 86400.0, 86400.0),  # absurd: capped at max_retry_after_s
        (math.inf, 300.0),
    ],
)
def test_retry_after_wins_when_longer(retry_after_s: float | None, expected: float) -> None:
    assert DEFAULT_POLICY.delay_s(2, retry_after_s, lambda: 0.5) == pytest.approx(expected)


def test_rand_out_of_range_is_clamped() -> None:
    assert DEFAULT_POLICY.delay_s(1, None, lambda: 7.0) == pytest.approx(6.0)
    assert DEFAULT_POLICY.delay_s(1, None, lambda: -1.0) == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.SUCCESS),
        (204, Verdict.SUCCESS),
        (299, Verdict.SUCCESS),
        (301, Verdict.FAIL),
        (302, Verdict.FAIL),
        (307, Verdict.FAIL),
        (400, Verdict.FAIL),
        (401, Verdict.FAIL),
        (403, Verdict.FAIL),
        (404, Verdict.FAIL),
        (413, Verdict.FAIL),
        (422, Verdict.FAIL),
        (408, Verdict.RETRY),
        (409, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (410, Verdict.DISABLE),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (599, Verdict.RETRY),
        (600, Verdict.FAIL),
    ],
)
def test_classify_status(status: int, verdict: Verdict) -> None:
    assert classify(status, None) is verdict


@pytest.mark.parametrize(
    ("error", "verdict"),
    [
        (httpx.ConnectTimeout("x"), Verdict.RETRY),
        (httpx.ReadTimeout("x"), Verdict.RETRY),
        (httpx.ConnectError("x"), Verdict.RETRY),
        (httpx.ReadError("x"), Verdict.RETRY),
        (httpx.RemoteProtocolError("x"), Verdict.RETRY),
        (TimeoutError(), Verdict.RETRY),
        (httpx.UnsupportedProtocol("x"), Verdict.FAIL),
        (httpx.InvalidURL("x"), Verdict.FAIL),
    ],
)
def test_classify_error(error: BaseException, verdict: Verdict) -> None:
    assert classify(None, error) is verdict


def test_classify_needs_something() -> None:
    with pytest.raises(ValueError):
        classify(None, None)


def test_verdict_serialises_as_its_value() -> None:
    assert str(Verdict.RETRY) == "retry"
    assert json.dumps([Verdict.RETRY]) == '["retry"]'
    assert f"{Verdict.DISABLE}" == "disable"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        (" 120 ", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-5", 0.0),
        ("9" * 30, 365 * 86400.0),
        ("soon", None),
        ("3s", None),
        ("0x10", None),
        ("١٢", None),  # non-ASCII digits are not delta-seconds
        (email.utils.formatdate(NOW + 90, usegmt=True), 90.0),  # IMF-fixdate
        (email.utils.formatdate(NOW - 90, usegmt=True), 0.0),  # in the past: now
        ("Tuesday, 14-Nov-23 22:15:20 GMT", 120.0),  # RFC 850 (obsolete, still accepted)
        ("Tue Nov 14 22:15:20 2023", 120.0),  # asctime, no zone: GMT
        ("Tue, 32 Nov 2023 22:15:20 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


@given(value=st.one_of(st.none(), st.text(max_size=60)), now=st.floats(allow_nan=True, allow_infinity=True))
def test_parse_retry_after_never_raises(value: str | None, now: float) -> None:
    result = parse_retry_after(value, now)
    assert result is None or (math.isfinite(result) and result >= 0)


_DATE_PARTS = st.tuples(
    st.sampled_from(["Mon, ", "Sunday, ", "", "Xyz "]),
    st.integers(-5, 99999),
    st.sampled_from([" Nov ", "-Nov-", " Foo ", " "]),
    st.integers(-1, 100000),
    st.sampled_from([" 08:49:37", " 99:99:99", " 8:4", ""]),
    st.sampled_from([" GMT", " +0000", " -9999", " EST", ""]),
)


@given(parts=_DATE_PARTS, now=st.floats(-1e12, 1e12))
def test_parse_retry_after_never_raises_on_date_lookalikes(
    parts: tuple[str, int, str, int, str, str], now: float
) -> None:
    text = "".join(str(p) for p in parts)
    result = parse_retry_after(text, now)
    assert result is None or (math.isfinite(result) and result >= 0)


_SCHEDULES = st.lists(st.floats(0, 1e7, allow_nan=False), max_size=12).map(lambda xs: tuple(sorted(xs)))


@given(
    schedule=_SCHEDULES,
    jitter=st.floats(0, 0.99),
    r=st.floats(0, 1, exclude_max=True),
    retry_after=st.one_of(st.none(), st.floats(-1e9, 1e9)),
)
def test_delay_within_jitter_bounds_and_monotone(
    schedule: tuple[float, ...], jitter: float, r: float, retry_after: float | None
) -> None:
    policy = RetryPolicy(schedule, jitter=jitter)
    plain = [policy.delay_s(i, None, lambda: r) for i in range(1, policy.attempts)]
    delays = [d for d in plain if d is not None]
    assert len(delays) == len(schedule)
    assert policy.delay_s(policy.attempts, None, lambda: r) is None
    for base, delay in zip(schedule, delays, strict=True):
        assert base * (1 - jitter) * (1 - 1e-12) <= delay <= base * (1 + jitter) * (1 + 1e-12)
    assert all(a <= b for a, b in zip(delays, delays[1:], strict=False))
    for i, delay in enumerate(delays, start=1):
        with_header = policy.delay_s(i, retry_after, lambda: r)
        assert with_header is not None
        assert delay <= with_header <= max(delay, policy.max_retry_after_s)


@pytest.mark.parametrize(
    ("text", "schedule"),
    [
        ("5s,5m,30m,2h,5h,10h,10h", DEFAULT_SCHEDULE_S),
        (" 1s , 2 s,3m ", (1.0, 2.0, 180.0)),
        ("10,20", (10.0, 20.0)),
        ("500ms,1.5s,1d", (0.5, 1.5, 86400.0)),
        ("none", ()),
        ("NONE", ()),
    ],
)
def test_parse_policy(text: str, schedule: tuple[float, ...]) -> None:
    policy = RetryPolicy.parse(text)
    assert policy.schedule_s == schedule
    assert RetryPolicy.parse(policy.to_text()) == policy


@pytest.mark.parametrize(
    "text", ["", " ", "5s,", ",5s", "5x", "-5s", "5s,1s", "1e3s", "nan", "inf", "5 m s", "5s;10s", "1w"]
)
def test_parse_policy_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        RetryPolicy.parse(text)


def test_parse_policy_keeps_options() -> None:
    policy = RetryPolicy.parse("1s", jitter=0.0, max_retry_after_s=60)
    assert policy.jitter == 0.0 and policy.max_retry_after_s == 60


@given(text=st.text(max_size=40))
def test_parse_policy_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        RetryPolicy.parse(text)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"schedule_s": (-1.0,)},
        {"schedule_s": (math.nan,)},
        {"schedule_s": (math.inf,)},
        {"schedule_s": (10.0, 5.0)},
        {"schedule_s": (1.0,) * 101},
        {"jitter": 1.0},
        {"jitter": -0.1},
        {"max_retry_after_s": -1.0},
        {"max_retry_after_s": math.inf},
    ],
)
def test_policy_rejects_bad_values(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_to_text_round_trips_fractions() -> None:
    policy = RetryPolicy((0.25, 90.0, 5400.0))
    assert policy.to_text() == "0.25s,90s,90m"
    assert RetryPolicy.parse(policy.to_text()) == policy


def test_settings_hold_the_retry_schedule_parsed_once(redis_url: str) -> None:
    settings = make_settings(redis_url, retry_schedule="1s,2m")
    assert settings.retry_policy.schedule_s == (1.0, 120.0)
    # One parse per schedule, shared by every reader: the policy the validator checked is the one they get.
    assert settings.retry_policy is make_settings(redis_url, retry_schedule="1s,2m").retry_policy
    with pytest.raises(ValidationError, match="retry_schedule"):
        make_settings(redis_url, retry_schedule="soon")
