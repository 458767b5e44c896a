"""Microsoft Graph change notifications (Outlook, Teams, OneDrive, SharePoint).

Docs: https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks
and https://learn.microsoft.com/en-us/graph/api/resources/changenotification

Graph signs nothing in basic notifications. Each notification in the body's ``value[]`` echoes the
``clientState`` set when the subscription was created (up to 128 chars): configure that value as the
integration's secret. A request passes only when **every** ``value[].clientState`` equals one of the
active secrets (constant-time); one forged item in a batch fails the whole request. Rich notifications'
``validationTokens`` (Azure AD JWTs) and ``encryptedContent`` are not checked here; their clientState is.

Handshake: on subscription creation and re-validation Graph POSTs (some services GET) to
``notificationUrl?validationToken=<url-encoded>``; we answer 200 ``text/plain`` with the URL-decoded
token within Graph's 10 s. The token is echoed unauthenticated by design, as Graph requires.

Tenant: ``value[].tenantId``; one EventInfo per notification, with ``body`` the notification's JSON.
Event type: ``lifecycleEvent`` for lifecycle notifications, else ``changeType``; delivery id: ``id``.
"""

from __future__ import annotations

import json
from typing import Any

from verifiers._core import EventInfo, HandshakeReply, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import require_any
from verifiers._query_and_batches import echo, event_json, query_values
from verifiers.errors import MalformedBody, SignatureMismatch


def notifications(data: Any) -> list[Any]:
    items = data.get("value") if isinstance(data, dict) else None
    return items if isinstance(items, list) else []


def verify(request: Request) -> None:
    items = notifications(request.json_object())
    if not items:
        raise MalformedBody("body has no value[] notifications")
    secrets = request.require_secrets()
    for item in items:
        state = item.get("clientState") if isinstance(item, dict) else None
        if not isinstance(state, str) or not state:
            raise SignatureMismatch("a notification carries no clientState", notifications=len(items))
        require_any(secrets, [state], scheme="client-state", notifications=len(items))


def handshake(request: Request) -> HandshakeReply | None:
    tokens = query_values(request.url, "validationToken")
    if not tokens or request.method not in ("POST", "GET"):
        return None
    return echo(tokens[0])


def extract(request: Request) -> list[EventInfo]:
    return [
        EventInfo(
            first(dig(item, "tenantId"), dig(item, "organizationId")),
            first(dig(item, "lifecycleEvent"), dig(item, "changeType")),
            dig(item, "id"),
            event_json(item),
        )
        for item in notifications(loads(request.body))
        if isinstance(item, dict)
    ]


def sign(s: SignInput) -> Signed:
    """Graph signs nothing: every notification's ``clientState`` is set to the secret."""
    data = loads(s.body)
    items = notifications(data)
    if not items or not all(isinstance(item, dict) for item in items):
        raise NotSignable('a change notification body is {"value": [...]}')
    if all(item.get("clientState") == s.secret for item in items):
        return s.signed({})
    body = json.dumps({**data, "value": [{**item, "clientState": s.secret} for item in items]}).encode()
    return Signed({"content-type": "application/json"}, body, s.url)


PROVIDER = register(
    Provider(
        "microsoft_graph",
        verify,
        handshake,
        extract,
        aliases=("onedrive", "outlook", "microsoft-teams", "sharepoint"),
        sign=sign,
    )
)
