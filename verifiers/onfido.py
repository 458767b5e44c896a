"""Onfido webhooks.

Docs: https://documentation.onfido.com/api/latest/#webhooks (section "Verifying webhook signatures")

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's token, lowercase hex in
``X-SHA2-Signature`` (the legacy SHA-1 ``X-Signature`` is not accepted). No timestamp is signed. The body
is ``{"payload": {"resource_type", "action", "object": {"id", ...}}}``: event type ``action``
(``check.completed``), delivery id ``object.id`` + action; the tenant is the account the token belongs to.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-sha2-signature", scheme="onfido")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    action, object_id = dig(data, "payload", "action"), dig(data, "payload", "object", "id")
    return [EventInfo("", action, f"{object_id}:{action}" if object_id and action else "")]


PROVIDER = register(Provider("onfido", verify, extract=extract, sign=sign))
