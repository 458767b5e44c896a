"""QuickBooks Online (Intuit) webhooks.

Docs: https://developer.intuit.com/app/developer/qbo/docs/develop/webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the app's webhook *verifier token*, base64 in
``intuit-signature``. No timestamp and no handshake.

Two payload formats, both split into one EventInfo per item with ``body`` that item's JSON:
- legacy: ``{"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [...]}}]}``; tenant
  ``realmId``, event type ``<Entity>.<Operation>`` of the first entity (``Customer.Create``), no id;
- CloudEvents (from 2025): a JSON array of events with ``id``, ``type`` (``qbo.customer.created.v1``)
  and ``intuitaccountid`` (the realm id) as tenant.
"""

from __future__ import annotations

from typing import Any

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import hmac_b64, require_any
from verifiers._query_and_batches import event_json


def verify(request: Request) -> None:
    sig = request.require_header("intuit-signature")
    secrets = request.require_secrets()
    require_any((hmac_b64(s.encode(), request.body) for s in secrets), [sig.strip()], scheme="intuit")


def _legacy(notification: dict[str, Any]) -> EventInfo:
    name = dig(notification, "dataChangeEvent", "entities", 0, "name")
    operation = dig(notification, "dataChangeEvent", "entities", 0, "operation")
    event_type = f"{name}.{operation}" if name and operation else name
    return EventInfo(dig(notification, "realmId"), event_type, "", event_json(notification))


def _cloud_event(event: dict[str, Any]) -> EventInfo:
    tenant = first(dig(event, "intuitaccountid"), dig(event, "realmid"), dig(event, "realmId"))
    return EventInfo(tenant, dig(event, "type"), dig(event, "id"), event_json(event))


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    if isinstance(data, list):
        return [_cloud_event(e) for e in data if isinstance(e, dict)]
    notifications = data.get("eventNotifications") if isinstance(data, dict) else None
    if not isinstance(notifications, list):
        return []
    return [_legacy(n) for n in notifications if isinstance(n, dict)]


def sign(s: SignInput) -> Signed:
    return s.signed({"intuit-signature": hmac_b64(s.secret.encode(), s.body)})


PROVIDER = register(Provider("quickbooks", verify, extract=extract, sign=sign))
