"""HubSpot request signatures (webhooks API, workflow webhooks, CRM cards).

Docs: https://developers.hubspot.com/docs/api/webhooks/validating-requests

The scheme is chosen from the headers:
- ``X-HubSpot-Signature-v3`` present: base64 HMAC-SHA256, keyed with the app's client secret, over
  ``METHOD + URI + raw_body + X-HubSpot-Request-Timestamp``. The timestamp is in epoch **milliseconds**
  and must be within 300 s of now (HubSpot says "older than 5 minutes"; we also reject the future).
  Before signing, HubSpot decodes these percent-escapes in the URI, and only these:
  ``%3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;``.
  A v3 header that does not verify is never retried against v1/v2.
- otherwise ``X-HubSpot-Signature-Version`` says which plain (not HMAC) SHA-256, hex, is in
  ``X-HubSpot-Signature``: ``v1`` = SHA-256(secret + raw_body);
  ``v2`` = SHA-256(secret + METHOD + URI + raw_body), the URI exactly as called.

v1/v2 sign no timestamp; replays are stopped by deduplicating ``eventId``. A webhooks-API delivery is
a JSON array of up to 100 events, each with ``portalId``, ``subscriptionType`` and ``eventId``; it is
split one event per ``EventInfo``. The URI of v2/v3 is the configured public URL with the path as
received (``MissingPublicUrl`` when none is configured); v1 needs none.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_timestamp, hmac_b64, require_any
from verifiers.errors import MissingHeader, UnsupportedVersion

V3_TOLERANCE_S = 300

_V3_UNESCAPE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$",
    "%27": "'", "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
_V3_ESCAPE = re.compile("|".join(_V3_UNESCAPE), re.IGNORECASE)


def v3_uri(url: str) -> str:
    """The URI as HubSpot signs it for v3: only the listed escapes decoded, in one pass (no double-decoding)."""
    return _V3_ESCAPE.sub(lambda m: _V3_UNESCAPE[m.group(0).upper()], url)


def _utf8(text: str) -> bytes:
    # The URL comes from the router, not the provider; never let an odd code point raise mid-verify.
    return text.encode("utf-8", "replace")


def _verify_v3(request: Request, signature: str) -> None:
    timestamp = request.require_header("x-hubspot-request-timestamp")
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=V3_TOLERANCE_S, scale=1000)
    message = _utf8(request.method) + _utf8(v3_uri(request.public_url())) + request.body + timestamp.encode()
    expected = (hmac_b64(s.encode(), message) for s in secrets)
    require_any(expected, [signature.strip()], scheme="hubspot-v3", url_set=bool(request.url))


def _verify_legacy(request: Request) -> None:
    signature = request.require_header("x-hubspot-signature")
    version = request.require_header("x-hubspot-signature-version").strip().lower()
    secrets = request.require_secrets()
    if version == "v1":
        suffix = request.body
    elif version == "v2":
        suffix = _utf8(request.method) + _utf8(request.public_url()) + request.body
    else:
        raise UnsupportedVersion("unknown X-HubSpot-Signature-Version", header="x-hubspot-signature-version")
    expected = (hashlib.sha256(s.encode() + suffix).hexdigest() for s in secrets)
    require_any(expected, [signature.strip().lower()], scheme=f"hubspot-{version}", url_set=bool(request.url))


def verify(request: Request) -> None:
    v3 = request.header("x-hubspot-signature-v3")
    if v3:
        _verify_v3(request, v3)
    elif request.header("x-hubspot-signature"):
        _verify_legacy(request)
    else:
        raise MissingHeader(
            "x-hubspot-signature-v3 or x-hubspot-signature is required",
            header="x-hubspot-signature-v3",
            headers_seen=sorted(request.headers),
        )


def _event(item: Any, body: bytes | None = None) -> EventInfo:
    # Workflow-action and CRM-card requests are single objects naming the portal under "origin".
    tenant = first(dig(item, "portalId"), dig(item, "origin", "portalId"))
    delivery = first(dig(item, "eventId"), dig(item, "callbackId"))
    return EventInfo(tenant, dig(item, "subscriptionType"), delivery, body)


def _compact(item: Any) -> bytes | None:
    try:
        return json.dumps(item, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return None


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    if isinstance(data, list):
        return [_event(item, _compact(item)) for item in data]
    return [_event(data)] if isinstance(data, dict) else []


def sign(s: SignInput) -> Signed:
    """v3 unless ``scheme`` is ``v1`` or ``v2``."""
    version = s.scheme or "v3"
    if version == "v3":
        ts = str(int(s.now * 1000))
        message = _utf8(s.method) + _utf8(v3_uri(s.require_url())) + s.body + ts.encode()
        return s.signed(
            {"x-hubspot-signature-v3": hmac_b64(s.secret.encode(), message), "x-hubspot-request-timestamp": ts}
        )
    if version not in ("v1", "v2"):
        raise NotSignable("HubSpot schemes are v1, v2 and v3")
    suffix = s.body if version == "v1" else _utf8(s.method) + _utf8(s.require_url()) + s.body
    digest = hashlib.sha256(s.secret.encode() + suffix).hexdigest()
    return s.signed({"x-hubspot-signature": digest, "x-hubspot-signature-version": version})


PROVIDER = register(Provider("hubspot", verify, extract=extract, signs_url=True, sign=sign))
