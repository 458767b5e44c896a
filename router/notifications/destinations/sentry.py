"""Sentry destinations: a failure event as a Sentry error event, so failures become issues.

``destination.url`` is either the project's DSN, ``https://<public key>@<host>/<project id>``, or, as the
platform's Sentry template asks for it, the project's Ingest URL built from the DSN
(``https://<host>/api/<project id>/store/``, or ``.../envelope/``) with the public key in a header:
``X-Sentry-Auth`` holding the bare key or a whole ``Sentry sentry_key=<key>, ...`` value (the template's
"replace ``<Sentry Key>`` with your Sentry Public Key"); an Ingest URL's ``?sentry_key=`` works too. The
request (https://develop.sentry.dev/sdk/foundations/transport/) goes to one of two endpoints, by
``options["endpoint"]`` (for an Ingest URL, by its path; a different ``options["endpoint"]`` is refused):

- ``store`` (the default): ``POST https://<host>/api/<project id>/store/``, the event as JSON. Sentry
  calls this endpoint deprecated but still accepts it, and older self-hosted Sentry has nothing else.
- ``envelope``: ``POST https://<host>/api/<project id>/envelope/``, ``Content-Type:
  application/x-sentry-envelope``: three lines, the envelope header (``event_id``, ``sent_at``), the
  item header (``type`` "event", ``length`` in bytes, ``content_type``) and the event JSON.

Both authenticate with ``X-Sentry-Auth: Sentry sentry_version=7, sentry_client=hookrouter/0.1,
sentry_key=<public key>``; the store endpoint also gets ``sentry_timestamp``, which the envelope
protocol replaces with its ``sent_at`` header. The DSN (key included) is never written into the body.
``options["base_url"]`` replaces ``https://<host>`` (a proxy, a test server); ``options["environment"]``
sets the event's environment.

The event: ``event_id`` derived from the hookrouter event (so a retried delivery is the same Sentry
event, which Sentry drops as a duplicate), ``timestamp``, ``level`` "error", ``platform`` "other",
``logger`` "hookrouter", ``logentry.formatted`` (the message), one ``exception`` (type: the event type;
value: the error), ``tags`` (event_type, project, integration, workflow), ``user.id``, ``extra.event``
(the whole event) and ``fingerprint`` ``["hookrouter", <type>, <workflow id>]``, so every failure of
one workflow lands in one issue (the integration id stands in for events without a workflow).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit

from router.notifications.destinations.webhook import (
    CONTENT_TYPE_JSON,
    Rendered,
    RenderError,
    base_url,
    check_url,
    dumps,
    encode,
    field,
    header_value,
    merge_headers,
    request_headers,
    text,
)
from subscriptions.destinations import Destination

__all__ = [
    "AUTH_HEADER",
    "CLIENT",
    "ENVELOPE_CONTENT_TYPE",
    "Dsn",
    "event_id",
    "header_key",
    "parse_dsn",
    "parse_ingest_url",
    "render",
    "sentry_event",
]

AUTH_HEADER = "X-Sentry-Auth"
CLIENT = "hookrouter/0.1"
ENVELOPE_CONTENT_TYPE = "application/x-sentry-envelope"
ENDPOINTS = ("store", "envelope")
TAG_MAX_CHARS = 199  # Sentry: "each tag must be less than 200 characters"
MESSAGE_MAX_CHARS = 8192  # Relay truncates longer messages
_KEY = re.compile(r"[A-Za-z0-9_-]{1,128}")
_PROJECT = re.compile(r"[0-9]{1,20}")
_DSN_HINT = (
    "url must be a Sentry DSN: https://<public key>@<host>/<project id>, or an Ingest URL "
    "https://<host>/api/<project id>/store/ with the public key in header X-Sentry-Auth"
)
_INGEST_PATH = re.compile(r"(?P<prefix>.*)/api/(?P<project>[0-9]{1,20})/(?P<endpoint>store|envelope)/?")
_AUTH_KEY = re.compile(r"(?:^|[\s,])sentry_key=([^,\s]*)")


@dataclass(frozen=True, slots=True)
class Dsn:
    origin: str  # scheme://host[:port]
    prefix: str  # a path before the project id, for Sentry served under a path ("" usually)
    project_id: str
    public_key: str

    def __repr__(self) -> str:
        return f"Dsn(project_id={self.project_id!r})"  # the key stays out of reprs


def _origin(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")


def parse_dsn(dsn: str) -> Dsn:
    check_url(dsn, "url")
    parts = urlsplit(dsn)
    key = parts.username or ""
    if not _KEY.fullmatch(key):
        raise RenderError(_DSN_HINT)
    prefix, _, project_id = parts.path.rstrip("/").rpartition("/")
    if not _PROJECT.fullmatch(project_id):
        raise RenderError(_DSN_HINT)
    return Dsn(_origin(parts), prefix, project_id, key)


def header_key(value: str | None) -> str | None:
    """The public key in an ``X-Sentry-Auth`` value: the bare key, or ``sentry_key=`` of a ``Sentry ...`` one."""
    if value is None:
        return None
    value = value.strip()
    if _KEY.fullmatch(value):
        return value
    found = _AUTH_KEY.search(value)
    return found.group(1) if found and _KEY.fullmatch(found.group(1)) else None


def parse_ingest_url(url: str, headers: Mapping[str, str]) -> tuple[Dsn, str]:
    """An Ingest URL (``https://<host>/api/<project id>/store/``) and the key from its header or query: the DSN it
    was built from, and the endpoint its path names."""
    check_url(url, "url")
    parts = urlsplit(url)
    path = _INGEST_PATH.fullmatch(parts.path)
    if parts.username is not None or path is None:
        raise RenderError(_DSN_HINT)
    query_key = next((v for k, v in parse_qsl(parts.query) if k == "sentry_key"), None)
    key = header_key(header_value(headers, AUTH_HEADER)) or header_key(query_key)
    if key is None:
        raise RenderError(_DSN_HINT)
    return Dsn(_origin(parts), path.group("prefix"), path.group("project"), key), path.group("endpoint")


def _target(destination: Destination, headers: Mapping[str, str]) -> tuple[Dsn, str]:
    """The DSN and the endpoint (store or envelope) a destination names, whichever form its url takes."""
    if destination.url is None:
        raise RenderError(_DSN_HINT)
    url = destination.url.get_secret_value()
    check_url(url, "url")
    chosen = destination.options.get("endpoint", "").strip().lower()
    if chosen and chosen not in ENDPOINTS:
        raise RenderError(f"options.endpoint must be one of {', '.join(ENDPOINTS)}")
    if urlsplit(url).username is not None:  # the userinfo holds a DSN's key: nothing else is one
        return parse_dsn(url), chosen or "store"
    dsn, endpoint = parse_ingest_url(url, headers)
    if chosen and chosen != endpoint:
        raise RenderError(f"options.endpoint {chosen} contradicts the Ingest URL's /{endpoint}/")
    return dsn, endpoint


def event_id(event: Mapping[str, Any]) -> str:
    """32 lowercase hex digits in the form of a UUID4, the same for the same event."""
    try:
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise RenderError("the event cannot be written as JSON") from None
    digest = hashlib.sha256(canonical.encode("utf-8", "replace")).digest()
    return uuid.UUID(bytes=digest[:16], version=4).hex


def _seconds(event: Mapping[str, Any], now: float) -> float:
    stamp = field(event, "timestamp")
    if isinstance(stamp, int) and not isinstance(stamp, bool) and 0 < stamp < 10**14:
        return stamp / 1000
    return now


def _tags(event: Mapping[str, Any]) -> dict[str, str]:
    pairs = {
        "event_type": text(event, "type"),
        "project": text(event, "project", "id"),
        "integration": text(event, "integration", "type"),
        "workflow": text(event, "workflow", "id"),
    }
    # Sentry: a tag value "cannot contain the newline (\\n) character" and has under 200 characters.
    return {name: " ".join(value.split())[:TAG_MAX_CHARS] for name, value in pairs.items() if value.strip()}


def sentry_event(event: Mapping[str, Any], *, now: float, environment: str = "") -> dict[str, Any]:
    kind = text(event, "type") or "event"
    message = text(event, "message") or kind
    group = text(event, "workflow", "id") or text(event, "integration", "id")
    out: dict[str, Any] = {
        "event_id": event_id(event),
        "timestamp": _seconds(event, now),
        "level": "error",
        "platform": "other",
        "logger": "hookrouter",
        "logentry": {"formatted": message[:MESSAGE_MAX_CHARS]},
        "exception": {"values": [{"type": kind, "value": text(event, "data", "error") or message}]},
        "tags": _tags(event),
        "extra": {"event": dict(event)},
        "fingerprint": ["hookrouter", kind, group],
    }
    user = text(event, "user", "id")
    if user:
        out["user"] = {"id": user}
    if environment:
        out["environment"] = environment
    return out


def _auth(key: str, now: float | None) -> str:
    parts = ["sentry_version=7", f"sentry_client={CLIENT}", f"sentry_key={key}"]
    if now is not None:
        parts.append(f"sentry_timestamp={int(now)}")
    return "Sentry " + ", ".join(parts)


def render(destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered:
    headers = request_headers(destination)
    dsn, endpoint = _target(destination, headers)
    # The Ingest URL's query (a sentry_key there included) is not sent on: the key goes in X-Sentry-Auth.
    url = f"{base_url(destination, dsn.origin + dsn.prefix)}/api/{dsn.project_id}/{endpoint}/"
    sentry = sentry_event(event, now=now, environment=destination.options.get("environment", "").strip())
    payload = dumps(sentry)
    if endpoint == "store":
        fixed = {AUTH_HEADER: _auth(dsn.public_key, now), "Content-Type": CONTENT_TYPE_JSON}
        return Rendered(url, merge_headers(headers, fixed), encode(payload))
    item = encode(payload)
    sent_at = datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    envelope_header = dumps({"event_id": sentry["event_id"], "sent_at": sent_at})
    item_header = dumps({"type": "event", "length": len(item), "content_type": CONTENT_TYPE_JSON})
    body = encode(envelope_header) + b"\n" + encode(item_header) + b"\n" + item + b"\n"
    fixed = {AUTH_HEADER: _auth(dsn.public_key, None), "Content-Type": ENVELOPE_CONTENT_TYPE}
    return Rendered(url, merge_headers(headers, fixed), body)
