"""Twilio request validation (voice, messaging and other TwiML / status callbacks).

Docs: https://www.twilio.com/docs/usage/webhooks/webhooks-security

Signed string, HMAC-SHA1 keyed with the (sub)account's auth token, base64 in ``X-Twilio-Signature``
(or, when a Webhooks Rule signs with a SharedKey, keyed with that key's secret and hashed with the
algorithm named by ``X-Twilio-Webhooks-Signature-Settings: key=<sid>,algorithm=HMAC_SHA256``;
docs: https://www.twilio.com/docs/usage/webhooks/webhook-shared-keys). The signed string is:
- form POSTs: ``url + "".join(name + value for each name sorted, each distinct value sorted)``;
- JSON bodies: the URL carries ``bodySHA256=<hex sha256(raw body)>``; the HMAC covers the URL alone
  and the body hash must match as well;
- GET requests: the parameters are already in the URL.
``url`` is the full public URL Twilio requested, query string included; it must come from the
configured public URL (``MissingPublicUrl`` otherwise), with the path exactly as received. As
twilio-python does, the URL is tried as given, with its port removed, and with the scheme's default
port (443/80) added, because Twilio's signing side is inconsistent about ports. There is no timestamp and no handshake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit, urlunsplit

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, form, loads
from verifiers._hmac import hmac_b64, matches, require_any
from verifiers._query_and_batches import query_values
from verifiers.errors import MalformedBody, MalformedHeader, SignatureMismatch, UnsupportedVersion

_DEFAULT_PORTS = {"https": 443, "http": 80}
SETTINGS_HEADER = "x-twilio-webhooks-signature-settings"
_ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}


def algorithm(settings: str | None) -> str:
    """The hash Twilio signed with: SHA-1 unless the settings header names another algorithm we know.

    The header is ``key=<SharedKey sid>,algorithm=HMAC_SHA256``; an algorithm we do not know is refused
    rather than checked with SHA-1, which could never match and would hide the cause.
    """
    if settings is None:
        return "sha1"
    fields = {key.strip().lower(): value.strip() for key, _, value in (p.partition("=") for p in settings.split(","))}
    name = fields.get("algorithm", "").upper()
    if not name:
        return "sha1"
    try:
        return _ALGORITHMS[name]
    except KeyError:
        raise UnsupportedVersion("unknown Twilio signature algorithm", header=SETTINGS_HEADER) from None


def url_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the default port (twilio-python's order of tries)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MalformedHeader("request URL is not a valid URL") from None
    variants = [url]
    if port is not None:
        variants.append(urlunsplit(parts._replace(netloc=parts.netloc.rsplit(":", 1)[0])))
    elif parts.scheme in _DEFAULT_PORTS and parts.netloc:
        variants.append(urlunsplit(parts._replace(netloc=f"{parts.netloc}:{_DEFAULT_PORTS[parts.scheme]}")))
    return list(dict.fromkeys(variants))


def signed_params(params: dict[str, list[str]]) -> str:
    return "".join(name + value for name in sorted(params) for value in sorted(set(params[name])))


def _form_params(body: bytes) -> dict[str, list[str]]:
    try:
        return parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise MalformedBody("form body is not valid UTF-8 url-encoded data") from None


def _params(request: Request, query: dict[str, list[str]]) -> dict[str, list[str]]:
    claimed = query.get("bodySHA256")
    if claimed is None:
        return _form_params(request.body)
    # JSON body: the URL (which the HMAC covers) pins the body through its hash.
    if not matches(hashlib.sha256(request.body).hexdigest(), [claimed[0].lower()]):
        raise SignatureMismatch("body does not match bodySHA256", scheme="twilio-body-sha256")
    return {}


def _expected(secrets: Iterable[str], urls: list[str], params: str, digest: str) -> list[str]:
    return [hmac_b64(s.encode(), (u + params).encode("utf-8", "replace"), digest) for s in secrets for u in urls]


def verify(request: Request) -> None:
    sig = request.require_header("x-twilio-signature")
    digest = algorithm(request.header(SETTINGS_HEADER))
    secrets = request.require_secrets()
    url = request.public_url()
    urls = url_variants(url)
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    params = signed_params(_params(request, query))
    expected = _expected(secrets, urls, params, digest)
    require_any(expected, [sig.strip()], scheme=f"twilio-{digest}", urls_tried=len(urls))


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    fields = {} if isinstance(data, dict | list) else form(request.body)
    tenant = first(fields.get("AccountSid", ""), dig(data, "AccountSid"), dig(data, "account_sid"))
    event_type = first(*(fields.get(k, "") for k in ("EventType", "MessageStatus", "SmsStatus", "CallStatus")))
    # Twilio resends a failed callback with the same idempotency token; SIDs repeat across status updates.
    return [EventInfo(tenant, first(event_type, dig(data, "type")), request.header("i-twilio-idempotency-token") or "")]


def sign(s: SignInput) -> Signed:
    """SHA-1 with the auth token, or ``scheme="sha256"`` as a SharedKey rule signs. A JSON body is pinned
    by ``bodySHA256`` in the URL, added when the URL lacks it."""
    if s.scheme not in ("", "sha1", "sha256"):
        raise NotSignable("Twilio schemes are sha1 and sha256")
    digest = s.scheme or "sha1"
    url = s.require_url()
    if s.body.lstrip()[:1] in (b"{", b"[") and not query_values(url, "bodySHA256"):
        url += ("&" if "?" in url else "?") + "bodySHA256=" + hashlib.sha256(s.body).hexdigest()
    try:
        params = {} if query_values(url, "bodySHA256") else _form_params(s.body)
    except MalformedBody:
        raise NotSignable("a Twilio body is form-encoded or JSON") from None
    headers = {"x-twilio-signature": hmac_b64(s.secret.encode(), (url + signed_params(params)).encode(), digest)}
    if digest == "sha256":
        headers[SETTINGS_HEADER] = s.given(SETTINGS_HEADER, "key=SK0,algorithm=HMAC_SHA256")
    return Signed(headers, s.body, url)


PROVIDER = register(Provider("twilio", verify, extract=extract, signs_url=True, sign=sign))
