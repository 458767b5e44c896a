"""Sample events for ``hookrouter send``: what a provider would POST for one event type, shaped after its
documented example payloads, with the tenant id (``provider_id``) where its extractor reads it.

A sample is the body and the metadata headers the provider sends beside its signature; signing is the verifiers'
(``verifiers.sign_request``). Providers without a sample here are sent with ``--body FILE`` (their own example).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Sample:
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Spec:
    event_type: str  # the default
    build: Callable[[str, str, str], Sample]  # (provider_id, event_type, unique id) → Sample
    needs_tenant: bool = True  # False: the provider names no tenant; the event routes by the URL's ?id=


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _split(event_type: str, default_action: str) -> tuple[str, str]:
    kind, _, action = event_type.partition(".")
    return kind, action or default_action


_SLACK_SCOPES = {"channels": "channel", "groups": "group", "im": "im", "mpim": "mpim"}


def _slack(tenant: str, event_type: str, uid: str) -> Sample:
    event: dict[str, Any] = {"type": event_type, "user": "U0SAMPLE", "ts": f"{time.time():.6f}"}
    if event_type.startswith("message."):  # message.channels: a message in a channel of that type
        event["type"] = "message"
        event["channel_type"] = _SLACK_SCOPES.get(event_type.split(".")[1], "channel")
    event |= {"channel": "C0SAMPLE", "text": "Hello from hookrouter send"}
    body = {
        "token": "sample",
        "team_id": tenant,
        "api_app_id": "A0SAMPLE",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + uid[:10].upper(),
        "event_time": int(time.time()),
    }
    return Sample(_json(body), {"content-type": "application/json"})


def _github(tenant: str, event_type: str, uid: str) -> Sample:
    event, action = _split(event_type, "")
    body: dict[str, Any] = {
        "installation": {"id": int(tenant) if tenant.isdigit() else tenant},
        "repository": {"id": 1296269, "full_name": "octocat/Hello-World", "private": False},
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    }
    if event == "issues":
        body["issue"] = {"number": 1347, "title": "Found a bug", "state": "open", "user": {"login": "octocat"}}
    if action:
        body = {"action": action, **body}
    headers = {"content-type": "application/json", "x-github-event": event, "x-github-delivery": uid}
    return Sample(_json(body), headers | {"x-github-hook-id": "292965926", "user-agent": "GitHub-Hookshot/sample"})


def _stripe(tenant: str, event_type: str, uid: str) -> Sample:
    body = {
        "id": "evt_" + uid.replace("-", "")[:24],
        "object": "event",
        "account": tenant,
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": {"id": "cus_NffrFeUfNV2Hib", "object": "customer", "email": "jenny@example.com"}},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return Sample(_json(body), {"content-type": "application/json; charset=utf-8"})


def _shopify(tenant: str, event_type: str, uid: str) -> Sample:
    body = {
        "id": 820982911946154508,
        "email": "jon@example.com",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S-00:00", time.gmtime()),
        "currency": "USD",
        "total_price": "199.00",
        "line_items": [{"id": 866550311766439020, "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"}],
    }
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": event_type,
        "x-shopify-shop-domain": tenant,
        "x-shopify-webhook-id": uid,
        "x-shopify-api-version": "2024-07",
        "x-shopify-triggered-at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return Sample(_json(body), headers)


def _hubspot(tenant: str, event_type: str, uid: str) -> Sample:
    item = {
        "eventId": int(uuid.UUID(uid).int % 10**9),
        "subscriptionId": 2881778,
        "portalId": int(tenant) if tenant.isdigit() else tenant,
        "appId": 1160452,
        "occurredAt": int(time.time() * 1000),
        "subscriptionType": event_type,
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
        "changeFlag": "NEW",
    }
    return Sample(_json([item]), {"content-type": "application/json"})


def _zoom(tenant: str, event_type: str, uid: str) -> Sample:
    body = {
        "event": event_type,
        "event_ts": int(time.time() * 1000),
        "payload": {
            "account_id": tenant,
            "object": {"id": "85746065432", "uuid": "aDYlohsHRtCd4ii1uC2+hA==", "topic": "My Meeting", "type": 2},
        },
    }
    return Sample(_json(body), {"content-type": "application/json"})


def _linear(tenant: str, event_type: str, uid: str) -> Sample:
    kind, action = _split(event_type, "create")
    body = {
        "action": action,
        "type": kind,
        "organizationId": tenant,
        "webhookTimestamp": int(time.time() * 1000),
        "webhookId": "000042e3-d123-4980-b49f-8e140eef9329",
        "data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "title": "Sample issue", "priority": 2},
        "url": "https://linear.app/example/issue/EX-1",
    }
    headers = {"content-type": "application/json", "linear-delivery": uid, "linear-event": kind}
    return Sample(_json(body), headers)


def _intercom(tenant: str, event_type: str, uid: str) -> Sample:
    body = {
        "type": "notification_event",
        "app_id": tenant,
        "topic": event_type,
        "id": "notif_" + uid,
        "created_at": int(time.time()),
        "delivery_attempts": 1,
        "data": {"type": "notification_event_data", "item": {"type": "conversation", "id": "147"}},
    }
    return Sample(_json(body), {"content-type": "application/json"})


def _standard(tenant: str, event_type: str, uid: str) -> Sample:
    body = {
        "type": event_type,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": {"id": "inv_" + uid[:8], "amount": 1999, "currency": "usd"},
    }
    return Sample(_json(body), {"content-type": "application/json", "webhook-id": "msg_" + uid.replace("-", "")})


SPECS: dict[str, Spec] = {
    "slack": Spec("message.channels", _slack),
    "github": Spec("issues.opened", _github),
    "stripe": Spec("customer.created", _stripe),
    "shopify": Spec("orders/create", _shopify),
    "hubspot": Spec("contact.creation", _hubspot),
    "zoom": Spec("meeting.started", _zoom),
    "linear": Spec("Issue.create", _linear),
    "intercom": Spec("conversation.user.created", _intercom),
    "standard_webhooks": Spec("invoice.paid", _standard, needs_tenant=False),
    "svix": Spec("invoice.paid", _standard, needs_tenant=False),
}


def sample(provider: str, provider_id: str, event_type: str | None = None) -> tuple[Sample, str]:
    """A sample of ``provider``'s ``event_type`` (its default when None), and the event type used. KeyError: none."""
    spec = SPECS[provider]
    kind = event_type or spec.event_type
    return spec.build(provider_id, kind, str(uuid.uuid4())), kind
