"""One HTTP delivery attempt: POST a body to a target and describe what happened as an ``Attempt``.

Network failures are outcomes here, not exceptions: ``attempt`` returns an ``Attempt`` whatever the
target or the network does, and only raises for our own mistakes (a non-positive timeout, headers
httpx cannot encode) and for cancellation, which it never swallows.

Nothing here logs. The caller knows the target id and delivery id worth logging; this module only
knows the URL, which can itself be a credential (a Slack incoming webhook URL is one), and the body.
The ``Attempt`` carries no message text from httpx for the same reason: its errors can quote the URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from router.delivery.retry import Verdict, classify, parse_retry_after
from router.delivery.signing import settings_headers, sign_headers
from router.egress.policy import AddressRefused

__all__ = ["RESPONSE_PREFIX_BYTES", "Attempt", "attempt", "dead_reason", "error_class", "post_signed"]

# We read this much of a response at most: enough to let small replies free their connection for
# reuse, never enough for a hostile target to make us buffer megabytes.
RESPONSE_PREFIX_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Attempt:
    """The outcome of one POST, as kept in a delivery's attempt history."""

    at: float  # unix seconds when the attempt started
    status: int | None  # None when no response arrived
    duration_ms: float
    error_class: str | None  # None on 2xx; "http_status" for other statuses; see error_class() for the rest
    retry_after_s: float | None  # the target's Retry-After, in seconds from `at`, when it sent a usable one
    verdict: Verdict

    def to_json(self) -> str:
        return json.dumps(self.record(), separators=(",", ":"))

    def record(self) -> dict[str, Any]:
        """The attempt as a job's history keeps it: what ``to_json`` writes, as a dict of plain values."""
        return {
            "at": self.at,
            "status": self.status,
            "duration_ms": self.duration_ms,
            "error_class": self.error_class,
            "retry_after_s": self.retry_after_s,
            "verdict": self.verdict.value,
        }

    @classmethod
    def from_json(cls, text: str | bytes) -> Attempt:
        """Read back what ``to_json`` wrote; ValueError for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("an attempt is a JSON object")
        try:
            return cls(
                at=float(data["at"]),
                status=_optional(data["status"], int),
                duration_ms=float(data["duration_ms"]),
                error_class=_optional(data["error_class"], str),
                retry_after_s=_optional(data["retry_after_s"], float),
                verdict=Verdict(data["verdict"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError("not an attempt record") from exc


_T = TypeVar("_T")


def _optional(value: Any, kind: Callable[[Any], _T]) -> _T | None:
    return None if value is None else kind(value)


def error_class(exc: BaseException) -> str:
    """A stable, low-cardinality name for why no usable response arrived."""
    if isinstance(exc, AddressRefused):
        return exc.reason
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, httpx.ReadError):
        return "read_error"
    if isinstance(exc, httpx.WriteError):
        return "write_error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol_error"  # e.g. the target closed the connection without answering
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "unsupported_protocol"
    if isinstance(exc, httpx.InvalidURL):
        return "invalid_url"
    if isinstance(exc, httpx.ProxyError):
        return "proxy_error"
    return "transport_error"


def dead_reason(attempt: Attempt) -> str:
    """Why a failed attempt ends its delivery: the policy's own reason when it refused the address."""
    return "address_refused" if attempt.error_class == "address_refused" else "rejected"


async def _read_prefix(response: httpx.Response) -> None:
    received = 0
    async for chunk in response.aiter_raw():
        received += len(chunk)
        if received >= RESPONSE_PREFIX_BYTES:
            break


async def _exchange(http: httpx.AsyncClient, request: httpx.Request, deadline: float) -> tuple[int, str | None]:
    """Status and Retry-After of one request, all within ``deadline`` (event-loop time): one timer for the
    whole exchange, the request's own phases untimed (``_UNTIMED``)."""
    response: httpx.Response | None = None
    try:
        async with asyncio.timeout_at(deadline):
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                # The status is the answer; the body is a courtesy. A body that drips or breaks off after the
                # headers doesn't change the verdict, and can't take us past the deadline either.
                with contextlib.suppress(httpx.HTTPError):
                    await _read_prefix(response)
            finally:
                await response.aclose()
    except TimeoutError:
        if response is None:  # no status yet: the attempt timed out
            raise
    return response.status_code, response.headers.get("retry-after")


async def attempt(
    http: httpx.AsyncClient,
    *,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_s: float,
    now: Callable[[], float],
) -> Attempt:
    """POST ``body`` to ``url`` once, redirects not followed, in at most ``timeout_s`` all told.

    httpx's own timeouts apply per phase (connect, each read, each write), so a server dripping one
    byte a second would never trip them; ``asyncio.timeout`` caps the whole exchange, and is the only timer.
    """
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise ValueError("timeout_s must be a positive number of seconds")
    at = now()
    started = time.perf_counter()
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        request = http.build_request(
            "POST", _parsed(url), content=body, headers=_with_defaults(headers), timeout=_UNTIMED
        )
        status, retry_after = await _exchange(http, request, deadline)
    except (httpx.HTTPError, httpx.InvalidURL, TimeoutError) as exc:
        return Attempt(at, None, _elapsed_ms(started), error_class(exc), None, classify(None, exc))
    verdict = classify(status, None)
    return Attempt(
        at=at,
        status=status,
        duration_ms=_elapsed_ms(started),
        error_class=None if verdict is Verdict.SUCCESS else "http_status",
        retry_after_s=parse_retry_after(retry_after, at),
        verdict=verdict,
    )


# The attempt's deadline covers every phase (connect, write, the status, the body's prefix) and fails closed: a
# frozen or dripping target times out there. Per-phase timeouts on top would only arm more timers per request
# (aiohttp re-arms its read timer on every chunk received).
_UNTIMED = httpx.Timeout(None)


@functools.lru_cache(maxsize=1024)
def _parsed(url: str) -> httpx.URL:
    # A target's URL is the same for every job it gets: parsed once, not once an attempt.
    return httpx.URL(url)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _with_defaults(headers: Mapping[str, str]) -> Mapping[str, str]:
    # A plain look through the few names: httpx.Headers' setdefault misses by raising KeyError, and the client
    # builds its Headers from these once anyway.
    if any(name.lower() == "content-type" for name in headers):
        return headers
    return {**headers, "content-type": "application/json"}


async def post_signed(
    http: httpx.AsyncClient,
    *,
    url: str,
    body: bytes,
    msg_id: str,
    secrets: Sequence[str],
    timeout_s: float,
    now: Callable[[], float],
    headers: Mapping[str, str] | None = None,
    user_settings: str = "",
) -> Attempt:
    """``attempt`` with fresh Standard Webhooks headers: re-signed on every retry, as the timestamp moves on.
    ``user_settings`` (a job's JSON) goes in its own signed headers (``signing.settings_headers``)."""
    timestamp = int(now())
    signed = {**(headers or {}), **sign_headers(msg_id, timestamp, body, secrets)}
    if user_settings:
        signed.update(settings_headers(msg_id, timestamp, user_settings, secrets))
    return await attempt(http, url=url, body=body, headers=signed, timeout_s=timeout_s, now=now)
