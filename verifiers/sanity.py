"""Sanity (GROQ-powered) webhooks.

Docs: https://www.sanity.io/docs/webhooks#d5a3b1f8f2c1 and @sanity/webhook (``src/signature.ts``)

Signed string: ``t + "." + raw_body`` where ``sanity-webhook-signature: t=<unix ms>,v1=<sig>``. HMAC-SHA256
keyed with the webhook's secret, **base64url without padding**. The timestamp is in milliseconds; we reject
it more than 300 s from now in either direction. The body is the projection the webhook defines, so the
event type comes from ``sanity-operation`` (``create``/``update``/``delete``) and the document type,
the delivery id from ``idempotency-key``, the tenant from ``sanity-project-id``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import stamped_hmac

verify, sign = stamped_hmac("sanity-webhook-signature", scheme="sanity", scale=1000, encoding="base64url")


def extract(request: Request) -> list[EventInfo]:
    operation, kind = request.header("sanity-operation") or "", dig(loads(request.body), "_type")
    event_type = f"{kind}.{operation}" if kind and operation else operation
    project = request.header("sanity-project-id") or ""
    return [EventInfo(project, event_type, request.header("idempotency-key") or "")]


PROVIDER = register(Provider("sanity", verify, extract=extract, sign=sign))
