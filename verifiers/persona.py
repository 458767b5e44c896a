"""Persona webhooks.

Docs: https://docs.withpersona.com/docs/webhooks-best-practices#checking-signatures

Signed string: ``t + "." + raw_body`` where ``Persona-Signature: t=<unix s>,v1=<hex>`` (during a secret
rotation several ``t=...,v1=...`` groups are sent, space-separated). HMAC-SHA256 keyed with the webhook
secret, lowercase hex. Timestamps more than 300 s from now, either way, are rejected. Event type:
``data.attributes.name`` (``inquiry.completed``); delivery id: the event ``data.id``; tenant: the
account the webhook belongs to (route by URL).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import stamped_hmac

verify, sign = stamped_hmac("persona-signature", scheme="persona")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo("", dig(data, "data", "attributes", "name"), dig(data, "data", "id"))]


PROVIDER = register(Provider("persona", verify, extract=extract, sign=sign))
