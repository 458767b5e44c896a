"""Datadog destinations: a failure event as one log sent to the Logs intake API v2.

Request (https://docs.datadoghq.com/api/latest/logs/#send-logs):
``POST https://http-intake.logs.<site>/api/v2/logs`` with ``DD-API-KEY`` and ``Content-Type:
application/json``; the body is a JSON array of log items. Ours holds one item:
``ddsource`` "hookrouter", ``service`` (``options["service"]``, default "hookrouter"), ``status``
"error", ``message`` (the event's message), ``ddtags`` (``type:…,project:…,integration:…,workflow:…``
plus ``options["tags"]``) and the whole event under the ``hookrouter`` attribute, where Datadog indexes
it as ``@hookrouter.data.error`` and so on.

- ``options["site"]``: the Datadog site, default ``datadoghq.com``; ``us3.datadoghq.com``,
  ``us5.datadoghq.com``, ``datadoghq.eu``, ``ap1.datadoghq.com``, ``ddog-gov.com``... The web app's host
  (``app.datadoghq.eu``) is accepted too: its ``app.`` is dropped, as in Datadog's own endpoint table.
- ``headers["DD-API-KEY"]``: required; a secret, sealed at rest like every header value.
- ``options["base_url"]``: replaces ``https://http-intake.logs.<site>`` (a proxy, a test server).

No ``timestamp`` is sent: Datadog then dates the log on arrival. A replayed event can be older than the
18 hours Datadog accepts in the past, and the event's own time is in ``@hookrouter.timestamp`` anyway.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from router.notifications.destinations.webhook import (
    CONTENT_TYPE_JSON,
    Rendered,
    RenderError,
    base_url,
    dumps,
    encode,
    header_value,
    merge_headers,
    request_headers,
    text,
)
from subscriptions.destinations import Destination

__all__ = ["API_KEY_HEADER", "DEFAULT_SITE", "log_item", "render", "site", "tags"]

API_KEY_HEADER = "DD-API-KEY"
DEFAULT_SITE = "datadoghq.com"
DEFAULT_SERVICE = "hookrouter"
SOURCE = "hookrouter"
TAG_MAX_CHARS = 200  # Datadog's limit per tag
_HOSTNAME = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# Datadog turns anything else in a tag into "_"; doing it here keeps a ',' in a name from splitting a tag.
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_\-:./]")


def site(destination: Destination) -> str:
    value = destination.options.get("site", DEFAULT_SITE).strip().lower()
    value = value.removeprefix("app.")
    if not _HOSTNAME.fullmatch(value):
        raise RenderError(
            "options.site must be a Datadog site such as datadoghq.com, us5.datadoghq.com or datadoghq.eu"
        )
    return value


def _tag(name: str, value: str) -> str:
    return _TAG_UNSAFE.sub("_", f"{name}:{value}")[:TAG_MAX_CHARS]


def tags(event: Mapping[str, Any], extra: str = "") -> str:
    """``type:…,project:…,integration:…,workflow:…`` (the empty ones left out), then ``extra``'s tags."""
    pairs = [
        ("type", text(event, "type")),
        ("project", text(event, "project", "id")),
        ("integration", text(event, "integration", "type")),
        ("workflow", text(event, "workflow", "id")),
    ]
    out = [_tag(name, value) for name, value in pairs if value]
    out.extend(_TAG_UNSAFE.sub("_", t.strip())[:TAG_MAX_CHARS] for t in extra.split(",") if t.strip())
    return ",".join(out)


def log_item(event: Mapping[str, Any], *, service: str = DEFAULT_SERVICE, extra_tags: str = "") -> dict[str, Any]:
    return {
        "ddsource": SOURCE,
        "service": service,
        "status": "error",
        "message": text(event, "message") or text(event, "type") or "hookrouter event",
        "ddtags": tags(event, extra_tags),
        "hookrouter": dict(event),
    }


def render(destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered:
    headers = request_headers(destination)
    if header_value(headers, API_KEY_HEADER) is None:
        raise RenderError(f"a datadog destination needs the header {API_KEY_HEADER} (your Datadog API key)")
    service = destination.options.get("service", DEFAULT_SERVICE).strip()
    if not service or len(service) > 100:
        raise RenderError("options.service must be 1 to 100 characters")
    url = base_url(destination, f"https://http-intake.logs.{site(destination)}") + "/api/v2/logs"
    item = log_item(event, service=service, extra_tags=destination.options.get("tags", ""))
    headers = merge_headers(headers, {"Content-Type": CONTENT_TYPE_JSON})
    return Rendered(url, headers, encode(dumps([item])))
