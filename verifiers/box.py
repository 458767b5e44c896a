"""Box webhooks (V2 signatures).

Docs: https://developer.box.com/guides/webhooks/v2/signatures-v2/

Signed string: ``raw_body + box-delivery-timestamp`` (the timestamp is appended *after* the body),
HMAC-SHA256, base64, in ``box-signature-primary`` (primary key) and ``box-signature-secondary``
(secondary key). ``box-signature-version`` must be ``1`` and ``box-signature-algorithm`` must be
``HmacSHA256``. ``box-delivery-timestamp`` is RFC 3339 with an offset.

Secrets are ``[primary, secondary]``; every configured key is tried against both headers, so the order
of the two keys does not matter and either header alone authenticates the request (Box's key rotation).
Box's SDK rejects deliveries older than 600 s or stamped in the future at all; we allow 60 s of clock
skew into the future, so a receiver whose clock runs slightly behind Box's does not reject fresh events.
The body is hashed exactly as received: Box sends it with non-ASCII characters ``\\uXXXX``-escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_window, hmac_b64, require_any
from verifiers.errors import MalformedHeader, MissingHeader, UnsupportedVersion

MAX_AGE_S = 600
FUTURE_SKEW_S = 60
_SIGNATURE_HEADERS = ("box-signature-primary", "box-signature-secondary")


def _parse_rfc3339(raw: str) -> float:
    text = raw.strip()
    # fromisoformat accepts non-ASCII digits and date-only forms; Box always sends an ASCII date-time.
    if not text.isascii() or "T" not in text.upper() or len(text) > 40:
        raise MalformedHeader("box-delivery-timestamp is not an RFC 3339 date-time", header="box-delivery-timestamp")
    try:
        stamp = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise MalformedHeader("box-delivery-timestamp is not an RFC 3339 date-time") from None
    if stamp.tzinfo is None:
        raise MalformedHeader("box-delivery-timestamp has no UTC offset", header="box-delivery-timestamp")
    try:
        return stamp.timestamp()
    except (OverflowError, ValueError):
        raise MalformedHeader("box-delivery-timestamp is out of range") from None


def _check_scheme(request: Request) -> None:
    version = request.require_header("box-signature-version")
    algorithm = request.require_header("box-signature-algorithm")
    if version.strip() != "1" or algorithm.strip() != "HmacSHA256":
        raise UnsupportedVersion("only box-signature-version 1 with HmacSHA256 is supported", scheme="box")


def verify(request: Request) -> None:
    received = [v for v in (request.header(h) for h in _SIGNATURE_HEADERS) if v]
    if not received:
        raise MissingHeader(
            "box-signature-primary or box-signature-secondary is required",
            header="box-signature-primary",
            headers_seen=sorted(request.headers),
        )
    timestamp = request.require_header("box-delivery-timestamp")
    _check_scheme(request)
    secrets = request.require_secrets()
    ts = _parse_rfc3339(timestamp)
    check_window(ts, now=request.now, tolerance_s=MAX_AGE_S, future_s=FUTURE_SKEW_S)
    message = request.body + timestamp.encode()
    require_any((hmac_b64(s.encode(), message) for s in secrets), received, scheme="box-v1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Box has no enterprise id in the payload: route by the webhook the event was delivered for.
    delivery = first(request.header("box-delivery-id") or "", dig(data, "id"))
    return [EventInfo(dig(data, "webhook", "id"), dig(data, "trigger"), delivery)]


def sign(s: SignInput) -> Signed:
    """Primary key signs ``box-signature-primary``; a second secret, if given, the secondary header."""
    stamp = s.given("box-delivery-timestamp", datetime.fromtimestamp(int(s.now), UTC).isoformat())
    message = s.body + stamp.encode()
    headers = {
        "box-delivery-id": s.given("box-delivery-id", s.delivery_id()),
        "box-delivery-timestamp": stamp,
        "box-signature-version": "1",
        "box-signature-algorithm": "HmacSHA256",
        "box-signature-primary": hmac_b64(s.secrets[0].encode(), message),
    }
    if len(s.secrets) > 1:
        headers["box-signature-secondary"] = hmac_b64(s.secrets[1].encode(), message)
    return s.signed(headers)


PROVIDER = register(Provider("box", verify, extract=extract, sign=sign))
