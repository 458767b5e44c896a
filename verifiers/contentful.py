"""Contentful webhooks with request verification.

Docs: https://www.contentful.com/developers/docs/webhooks/request-verification/ , which defers to
``verifyRequest`` in contentful/node-apps-toolkit (``src/requests/sign-request.ts``, ``utils.ts``); this module
builds the same canonical request.

Signed string: ``METHOD + "\\n" + path + "\\n" + headers + "\\n" + raw_body``, HMAC-SHA256 keyed with the
space's signing secret, lowercase hex in ``x-contentful-signature``.

- ``path`` is the request path and query as the toolkit normalises them: the query (the text after the first
  ``?``) is escaped like Node's ``querystring.escape``, then the whole is escaped like JavaScript's ``encodeURI``
  (so an already-escaped ``%`` is escaped again, exactly as the toolkit does).
- ``headers`` are ``name:value`` pairs joined by ``;``, sorted by name: every header named in
  ``x-contentful-signed-headers`` that the request carries (names lower-cased, values trimmed), plus
  ``x-contentful-timestamp`` and ``x-contentful-signed-headers`` itself, whose value in the string is the sorted
  names joined by ``,``. Both are signed whether or not the list names them.

``x-contentful-timestamp`` is unix milliseconds. The toolkit's default time to live is 30 s into the past; we
accept 60 s either way, to allow for clock skew. Event type: the ``x-contentful-topic`` header
(``ContentManagement.Entry.publish``); tenant ``sys.space.sys.id``; delivery id ``sys.id`` + ``sys.version``
(the same for every retry of one change).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote, urlsplit

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedHeader

TOLERANCE_S = 60
SIGNATURE, TIMESTAMP, SIGNED = "x-contentful-signature", "x-contentful-timestamp", "x-contentful-signed-headers"
# What Node's querystring.escape and JavaScript's encodeURI leave as they are (besides letters and digits).
QUERY_SAFE, URI_SAFE = "-_.!~*'()", ";,/?:@&=+$-_.!~*'()#"


def canonical_path(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise MalformedHeader("request URL is not a valid URL") from None
    path = parts.path or "/"
    # The toolkit splits on "?" and keeps the first two pieces: a second "?" and what follows are not signed.
    query = url.split("?")[1].split("#")[0] if "?" in url else ""
    if query:
        path += "?" + quote(query, safe=QUERY_SAFE)
    return quote(path, safe=URI_SAFE)


def canonical(
    method: str, url: str, headers: Mapping[str, str], listed: list[str], timestamp: str, body: bytes
) -> bytes:
    picked = {name: headers[name].strip() for name in listed if name in headers}
    picked[TIMESTAMP] = timestamp.strip()
    names = sorted({*picked, SIGNED})
    picked[SIGNED] = ",".join(names)
    signed = ";".join(f"{name}:{picked[name]}" for name in names)
    return f"{method}\n{canonical_path(url)}\n{signed}\n".encode("utf-8", "replace") + body


def verify(request: Request) -> None:
    signature, timestamp = request.require_header(SIGNATURE), request.require_header(TIMESTAMP)
    listed = [n.strip().lower() for n in request.require_header(SIGNED).split(",") if n.strip()]
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S, scale=1000)
    message = canonical(request.method, request.url, request.headers, listed, timestamp, request.body)
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="contentful")


def sign(s: SignInput) -> Signed:
    """What Contentful sends when no other header is signed: the signed list names the toolkit's two."""
    timestamp = str(int(s.now * 1000))
    message = canonical(s.method, s.url, s.headers, [], timestamp, s.body)
    names = f"{SIGNED},{TIMESTAMP}"
    return s.signed({TIMESTAMP: timestamp, SIGNED: names, SIGNATURE: hmac_hex(s.secret.encode(), message)})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    entry, version = dig(data, "sys", "id"), dig(data, "sys", "version")
    delivery = f"{entry}:{version}" if entry and version else entry
    return [EventInfo(dig(data, "sys", "space", "sys", "id"), request.header("x-contentful-topic") or "", delivery)]


PROVIDER = register(Provider("contentful", verify, extract=extract, sign=sign))
