"""Retry policy for outbound deliveries: the schedule, Retry-After, and what each outcome means.

Pure functions and a frozen value object; no I/O. The delivery engine asks three questions here:
``classify`` (retry this outcome at all?), ``parse_retry_after`` (did the target say when?) and
``RetryPolicy.delay_s`` (how long until the next attempt, or none left?).

Default schedule: Svix's (``retry_schedule`` in svix-server's ``config.default.toml``), the bar the
issue sets. Delays before attempts 2..8 are 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: 8 attempts,
the last one 27 h 35 min (99,305 s) after the first, each delay jittered by ±20 %. That rides out a
target that is down for a working day or a whole night without losing the delivery.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from enum import StrEnum

import httpx

from router.egress.policy import AddressRefused

__all__ = [
    "DEFAULT_MAX_RETRY_AFTER_S",
    "DEFAULT_POLICY",
    "DEFAULT_SCHEDULE_S",
    "RetryPolicy",
    "Verdict",
    "classify",
    "parse_retry_after",
]

DEFAULT_SCHEDULE_S: tuple[float, ...] = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
DEFAULT_JITTER = 0.2
# A Retry-After longer than this is capped, not obeyed: one odd header must not park a delivery for a month.
DEFAULT_MAX_RETRY_AFTER_S = 86400.0
# Anything beyond a year is "never" for our purposes; bounding it keeps the value finite (JSON has no inf).
_RETRY_AFTER_CEILING_S = 365 * 86400.0
_MAX_SCHEDULE_ENTRIES = 100

# Statuses that say "not now" rather than "never": timeout, conflict, too early, too many requests.
_RETRYABLE_4XX = frozenset({408, 409, 425, 429})


class Verdict(StrEnum):
    """What to do after an attempt. A ``str``, so it serialises as its value."""

    SUCCESS = "success"  # 2xx: done
    RETRY = "retry"  # try again later, if the schedule has attempts left
    FAIL = "fail"  # permanent for this delivery (most 4xx, 3xx): dead-letter it now
    DISABLE = "disable"  # 410 Gone: the target asked never to be called again


def classify(status: int | None, error: BaseException | None) -> Verdict:
    """The verdict for one attempt's outcome: an HTTP status, or the error that prevented one.

    - 2xx → success.
    - 410 → disable the target.
    - 408, 409, 425, 429 and 5xx → retry.
    - 3xx → fail. Redirects are not followed: following them would re-POST a signed body to a URL
      nobody configured, and a target that moved must be fixed by its owner.
    - Any other status → fail: the request itself is wrong, and resending it won't change that.
    - Timeouts, connection and other transport errors → retry; a URL httpx cannot send to at all
      (bad scheme, malformed) or an address the egress policy refuses → fail, as no amount of waiting fixes
      configuration.
    """
    if error is not None:
        if isinstance(error, httpx.UnsupportedProtocol | httpx.InvalidURL | AddressRefused):
            return Verdict.FAIL
        return Verdict.RETRY
    if status is None:
        raise ValueError("classify needs a status or an error")
    if 200 <= status <= 299:
        return Verdict.SUCCESS
    if status == 410:
        return Verdict.DISABLE
    if status in _RETRYABLE_4XX or 500 <= status <= 599:
        return Verdict.RETRY
    return Verdict.FAIL


_DELTA_SECONDS = re.compile(r"(-?)([0-9]{1,30})(?:\.[0-9]{1,9})?", re.ASCII)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from ``now`` per a Retry-After header (RFC 9110 §10.2.3), or None if absent or unusable.

    Accepts delta-seconds (leniently, with a fraction) and the three HTTP-date forms. A date in the
    past or a negative number means "now": 0. Never raises.
    """
    if value is None:
        return None
    text = value.strip()
    match = _DELTA_SECONDS.fullmatch(text)
    if match is not None:
        if match.group(1):
            return 0.0
        return min(float(text), _RETRY_AFTER_CEILING_S)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # the asctime form carries no zone; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    try:
        seconds = when.timestamp() - now
    except (OverflowError, ValueError, OSError):
        return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), _RETRY_AFTER_CEILING_S)


_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?", re.ASCII)


def _parse_duration_s(token: str) -> float:
    match = _DURATION.fullmatch(token.strip())
    if match is None:
        raise ValueError(f"not a duration like 5s, 30m or 2h: {token.strip()[:40]!r}")
    return float(match.group(1)) * _UNITS_S[match.group(2) or "s"]


def _format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m", "s"):
        scaled = seconds / _UNITS_S[unit]
        if scaled >= 1 and scaled == int(scaled):
            return f"{int(scaled)}{unit}"
    # Millisecond precision, never exponent notation: the output must parse back.
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to retry a failed delivery.

    ``schedule_s[i]`` is the delay before attempt ``i + 2``, so ``len(schedule_s) + 1`` attempts in all.
    Each delay is multiplied by a random factor in ``[1 - jitter, 1 + jitter)`` so that deliveries
    that failed together (a target's outage) don't all come back in the same second.
    """

    schedule_s: tuple[float, ...] = DEFAULT_SCHEDULE_S
    jitter: float = DEFAULT_JITTER
    max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S

    def __post_init__(self) -> None:
        if len(self.schedule_s) > _MAX_SCHEDULE_ENTRIES:
            raise ValueError(f"a retry schedule has at most {_MAX_SCHEDULE_ENTRIES} entries")
        if any(not math.isfinite(d) or d < 0 for d in self.schedule_s):
            raise ValueError("retry delays must be finite and >= 0")
        if any(a > b for a, b in zip(self.schedule_s, self.schedule_s[1:], strict=False)):
            raise ValueError("retry delays must not decrease: backoff only ever backs off further")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")
        if not (math.isfinite(self.max_retry_after_s) and self.max_retry_after_s >= 0):
            raise ValueError("max_retry_after_s must be finite and >= 0")

    @property
    def attempts(self) -> int:
        """Total attempts, the first one included."""
        return len(self.schedule_s) + 1

    def delay_s(
        self, attempt: int, retry_after_s: float | None = None, rand: Callable[[], float] = random.random
    ) -> float | None:
        """Seconds to wait after attempt number ``attempt`` (1-based) failed; None when it was the last.

        ``rand`` returns a float in [0, 1) (injected so tests are deterministic). A Retry-After wins
        when it is longer than the jittered delay, capped at ``max_retry_after_s``; it never shortens
        the schedule, so a target answering "Retry-After: 0" cannot turn backoff into a busy loop.
        """
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        if attempt > len(self.schedule_s):
            return None
        r = min(max(rand(), 0.0), 1.0)
        delay = self.schedule_s[attempt - 1] * (1 + self.jitter * (2 * r - 1))
        if retry_after_s is not None and math.isfinite(retry_after_s):
            delay = max(delay, min(max(retry_after_s, 0.0), self.max_retry_after_s))
        return delay

    @property
    def total_s(self) -> float:
        """Nominal time from the first attempt to the last (no jitter, no Retry-After)."""
        return sum(self.schedule_s)

    @classmethod
    def parse(
        cls, text: str, *, jitter: float = DEFAULT_JITTER, max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S
    ) -> RetryPolicy:
        """A policy from a compact setting: ``"5s,5m,30m,2h,5h,10h,10h"``; ``"none"`` for a single attempt.

        Units: ms, s, m, h, d; a bare number is seconds. Raises ValueError on anything else.
        """
        stripped = text.strip()
        if stripped.lower() == "none":
            return cls((), jitter=jitter, max_retry_after_s=max_retry_after_s)
        if not stripped:
            raise ValueError('empty retry schedule (write "none" for no retries)')
        delays = tuple(_parse_duration_s(token) for token in stripped.split(","))
        return cls(delays, jitter=jitter, max_retry_after_s=max_retry_after_s)

    def to_text(self) -> str:
        """The schedule in the form ``parse`` reads."""
        return ",".join(_format_duration(d) for d in self.schedule_s) or "none"


DEFAULT_POLICY = RetryPolicy()
