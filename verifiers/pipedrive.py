"""Pipedrive webhooks (v1 and v2), authenticated with HTTP Basic credentials.

Docs: https://pipedrive.readme.io/docs/guide-for-webhooks-v2 and
https://developers.pipedrive.com/docs/api/v1/Webhooks#addWebhook (``http_auth_user``, ``http_auth_password``)

Pipedrive does not sign webhooks. A webhook created with ``http_auth_user`` / ``http_auth_password``
is delivered with ``Authorization: Basic base64(user:password)``; each secret is one ``user:password``
pair and the decoded credentials are compared in constant time. There is no timestamp and no handshake.
"""

from __future__ import annotations

import base64

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import b64decode_strict, require_any
from verifiers.errors import MalformedHeader, MissingSecret


def _credentials(header: str) -> bytes:
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise MalformedHeader("authorization is not Basic credentials", header="authorization")
    return b64decode_strict(encoded)


def verify(request: Request) -> None:
    received = _credentials(request.require_header("authorization"))
    pairs = [s for s in request.require_secrets() if ":" in s]
    if not pairs:
        raise MissingSecret("Pipedrive secrets must be user:password pairs")
    require_any((p.encode() for p in pairs), [received], scheme="pipedrive-basic")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = dig(data, "meta", "company_id")
    # v1 names the event "updated.deal"; v2 splits it into meta.action / meta.entity ("change" / "deal").
    action, entity = dig(data, "meta", "action"), dig(data, "meta", "entity")
    event_type = first(dig(data, "event"), f"{action}.{entity}" if action and entity else "")
    # Neither version documents a per-delivery id (v1 meta.id is the object's id), so none is claimed.
    return [EventInfo(tenant, event_type, "")]


def sign(s: SignInput) -> Signed:
    if ":" not in s.secret:
        raise NotSignable("Pipedrive's secret is a user:password pair")
    return s.signed({"authorization": "Basic " + base64.b64encode(s.secret.encode()).decode()})


PROVIDER = register(Provider("pipedrive", verify, extract=extract, sign=sign))
