"""DocuSign Connect HMAC signatures.

Docs: https://developers.docusign.com/platform/webhooks/connect/validate
and https://developers.docusign.com/platform/webhooks/connect/hmac

Signed string: the raw body (line endings included), HMAC-SHA256 keyed with a Connect HMAC key, base64.
DocuSign sends one header per active key, ``X-DocuSign-Signature-1`` ... ``-N`` (up to 100); the request
is authentic when any of them matches any configured key. No timestamp is signed and there is no
delivery id. Tenant: ``data.accountId`` of a JSON (SIM) payload; event type: ``event``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, hmac_b64, hmac_digest, require_any
from verifiers.errors import MalformedHeader, MissingHeader

PREFIX = "x-docusign-signature-"


def _signatures(request: Request) -> list[bytes]:
    values = [v for k, v in request.headers.items() if k.startswith(PREFIX) and k[len(PREFIX) :].isdigit()]
    if not values:
        raise MissingHeader(f"{PREFIX}1 is required", header=PREFIX + "1", headers_seen=sorted(request.headers))
    decoded: list[bytes] = []
    for value in values:
        try:
            decoded.append(b64decode_strict(value))
        except MalformedHeader:
            continue  # one garbled header must not hide a valid sibling
    if not decoded:
        raise MalformedHeader("no X-DocuSign-Signature-N header is base64", header=PREFIX + "1")
    return decoded


def verify(request: Request) -> None:
    signatures = _signatures(request)
    secrets = request.require_secrets()
    require_any((hmac_digest(s.encode(), request.body) for s in secrets), signatures, scheme="docusign-hmac")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "data", "accountId"), dig(data, "event"), "")]


def sign(s: SignInput) -> Signed:
    """One ``X-DocuSign-Signature-N`` per secret, numbered from 1, as DocuSign sends one per active key."""
    headers = {"x-authorization-digest": "HMACSHA256"}
    for n, secret in enumerate(s.secrets, start=1):
        headers[f"{PREFIX}{n}"] = hmac_b64(secret.encode(), s.body)
    return s.signed(headers)


PROVIDER = register(Provider("docusign", verify, extract=extract, sign=sign))
