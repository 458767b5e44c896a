"""Todoist webhooks (Sync API v9 / API v1).

Docs: https://developer.todoist.com/sync/v9/#webhooks ("Request Format")

Signed string: the raw body, HMAC-SHA256 keyed with the app's client secret, base64 in
``X-Todoist-Hmac-SHA256``. No timestamp; ``X-Todoist-Delivery-ID`` is the same on every retry of one
delivery. Tenant: ``user_id`` (the user whose item changed); event type ``event_name`` (``item:added``).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-todoist-hmac-sha256", scheme="todoist", encoding="base64")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    delivery = request.header("x-todoist-delivery-id") or ""
    return [EventInfo(dig(data, "user_id"), dig(data, "event_name"), delivery)]


PROVIDER = register(Provider("todoist", verify, extract=extract, sign=sign))
