"""Contentful webhooks with request verification.

Docs: https://www.contentful.com/developers/docs/webhooks/request-verification/

Signed string (canonical request): ``METHOD + "\\n" + path-with-query + "\\n" + signed headers + "\\n" +
raw_body``, where the signed headers are ``name:value`` joined by ``;`` in the order listed (lower-cased)
in ``x-contentful-signed-headers``, which always includes ``x-contentful-timestamp`` (unix milliseconds).
HMAC-SHA256 keyed with the signing secret, lowercase hex in ``x-contentful-signature``. Contentful's
toolkit accepts 30 s; we reject timestamps more than 60 s from now in either direction. Event type: the
``x-contentful-topic`` header (``ContentManagement.Entry.publish``); tenant ``sys.space.sys.id``; delivery
id ``sys.id`` + ``sys.version`` (the same for every retry of one change).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedHeader

TOLERANCE_S = 60
SIGNATURE, TIMESTAMP, SIGNED = "x-contentful-signature", "x-contentful-timestamp", "x-contentful-signed-headers"


def canonical(method: str, url: str, headers: dict[str, str], names: list[str], body: bytes) -> bytes:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise MalformedHeader("request URL is not a valid URL") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    signed = ";".join(f"{name}:{headers.get(name, '')}" for name in names)
    return f"{method}\n{path}\n{signed}\n".encode("utf-8", "replace") + body


def verify(request: Request) -> None:
    signature, timestamp = request.require_header(SIGNATURE), request.require_header(TIMESTAMP)
    names = [n.strip().lower() for n in request.require_header(SIGNED).split(",") if n.strip()]
    if TIMESTAMP not in names:
        raise MalformedHeader("x-contentful-signed-headers must include the timestamp", header=SIGNED)
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S, scale=1000)
    message = canonical(request.method, request.url, dict(request.headers), names, request.body)
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="contentful")


def sign(s: SignInput) -> Signed:
    headers = {**s.headers, TIMESTAMP: str(int(s.now * 1000))}
    names = [TIMESTAMP]
    message = canonical(s.method, s.url, headers, names, s.body)
    return s.signed(
        {TIMESTAMP: headers[TIMESTAMP], SIGNED: ",".join(names), SIGNATURE: hmac_hex(s.secret.encode(), message)}
    )


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    entry, version = dig(data, "sys", "id"), dig(data, "sys", "version")
    delivery = f"{entry}:{version}" if entry and version else entry
    return [EventInfo(dig(data, "sys", "space", "sys", "id"), request.header("x-contentful-topic") or "", delivery)]


PROVIDER = register(Provider("contentful", verify, extract=extract, sign=sign))
