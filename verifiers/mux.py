"""Mux webhooks (Mux Video / Data).

Docs: https://docs.mux.com/core/verify-webhook-signatures

Signed string: ``t + "." + raw_body`` where ``Mux-Signature: t=<unix s>,v1=<hex>``. HMAC-SHA256 keyed with
the webhook's signing secret, lowercase hex. Mux's SDKs allow 300 s; we reject timestamps more than 300 s
from now in either direction. Tenant: ``environment.id``; event type ``type`` (``video.asset.ready``);
delivery id: the event ``id``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import stamped_hmac

verify, sign = stamped_hmac("mux-signature", scheme="mux")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "environment", "id"), dig(data, "type"), dig(data, "id"))]


PROVIDER = register(Provider("mux", verify, extract=extract, sign=sign))
