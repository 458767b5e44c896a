"""New Relic destinations: a failure event as one log sent to the Log API.

Request (https://docs.newrelic.com/docs/logs/log-api/introduction-log-api/): ``POST
https://log-api.newrelic.com/log/v1`` (US) or ``https://log-api.eu.newrelic.com/log/v1`` (EU), chosen by
``options["region"]`` (``us``, the default, or ``eu``), with ``Api-Key`` (a license key; required) and
``Content-Type: application/json``. ``options["base_url"]`` replaces the scheme and host (a proxy, a test
server). The body is the Log API's detailed form::

    [{"common": {"attributes": {"logtype": "hookrouter", "service": "hookrouter"}},
      "logs": [{"timestamp": <ms>, "message": "...", "attributes": {"level": "error", ...}}]}]

Log attributes take strings, numbers and booleans, at most 255 per record. The event is flattened into
dotted names under ``hookrouter.`` (``hookrouter.data.error``, ``hookrouter.workflow.name``); lists
become JSON text, nulls are left out, and past ``MAX_EVENT_ATTRIBUTES`` the rest is dropped.
``timestamp`` is the event's time unless that is over ``MAX_AGE_S`` old (a replay): New Relic may drop
records more than 48 hours old, so the arrival time is used and the event's own time stays in
``hookrouter.timestamp``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from router.notifications.destinations.webhook import (
    CONTENT_TYPE_JSON,
    Rendered,
    RenderError,
    base_url,
    dumps,
    encode,
    field,
    header_value,
    merge_headers,
    request_headers,
    text,
)
from subscriptions.destinations import Destination

__all__ = ["API_KEY_HEADER", "ENDPOINTS", "attributes", "payload", "render"]

API_KEY_HEADER = "Api-Key"
ENDPOINTS = {"us": "https://log-api.newrelic.com", "eu": "https://log-api.eu.newrelic.com"}
PATH = "/log/v1"
PREFIX = "hookrouter"
MAX_EVENT_ATTRIBUTES = 200  # of New Relic's 255 per record; the rest is for ours and the common ones
MAX_DEPTH = 8
MAX_AGE_S = 47 * 3600


def _scalar(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


def attributes(event: Mapping[str, Any], limit: int = MAX_EVENT_ATTRIBUTES) -> dict[str, str | int | float | bool]:
    """The event flattened to ``hookrouter.a.b`` names and scalar values, at most ``limit`` of them."""
    out: dict[str, str | int | float | bool] = {}
    stack: list[tuple[str, Any, int]] = [(PREFIX, event, 0)]
    while stack and len(out) < limit:
        name, value, depth = stack.pop()
        if isinstance(value, Mapping) and depth < MAX_DEPTH:
            # Reversed, so the pops come out in the event's own key order.
            stack.extend((f"{name}.{key}", item, depth + 1) for key, item in reversed(list(value.items())))
            continue
        scalar = _scalar(value)
        if scalar is not None:
            out[name[:255]] = scalar
    return out


def _timestamp_ms(event: Mapping[str, Any], now: float) -> int:
    stamp = field(event, "timestamp")
    now_ms = int(now * 1000)
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 <= now_ms - stamp <= MAX_AGE_S * 1000:
        return stamp
    return now_ms


def payload(event: Mapping[str, Any], *, now: float, service: str = PREFIX) -> list[dict[str, Any]]:
    record = {
        "timestamp": _timestamp_ms(event, now),
        "message": text(event, "message") or text(event, "type") or "hookrouter event",
        "attributes": {"level": "error", **attributes(event)},
    }
    return [{"common": {"attributes": {"logtype": PREFIX, "service": service}}, "logs": [record]}]


def render(destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered:
    headers = request_headers(destination)
    if header_value(headers, API_KEY_HEADER) is None:
        raise RenderError(f"a newrelic destination needs the header {API_KEY_HEADER} (a New Relic license key)")
    region = destination.options.get("region", "us").strip().lower()
    if region not in ENDPOINTS:
        raise RenderError(f"options.region must be one of {', '.join(ENDPOINTS)}")
    service = destination.options.get("service", PREFIX).strip() or PREFIX
    url = base_url(destination, ENDPOINTS[region]) + PATH
    headers = merge_headers(headers, {"Content-Type": CONTENT_TYPE_JSON})
    return Rendered(url, headers, encode(dumps(payload(event, now=now, service=service))))
