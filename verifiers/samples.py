"""One sample delivery per signable provider: what it would POST for one event, shaped after its documented
example payload, with the tenant id (provider ID), event type and delivery id where its extractor reads them.

Used by ``hookrouter send`` (the router fills in a credential's tenant and a fresh delivery id), the catalog
tests, the end-to-end HTTP tests and the verification bench. A sample is the body and the metadata headers the
provider sends beside its signature; signing stays with the provider modules (``verifiers.sign_request``). Pure:
the instant and the ids are the caller's.

Templates are plain JSON-like values in which ``TENANT``, ``TENANT_NUMBER`` (a number when the tenant is
digits, as the provider sends it), ``EVENT``, ``DELIVERY`` and ``NOW_MS`` stand for the values filled in;
``TENANT`` and ``DELIVERY`` may also sit inside a longer string (a URL).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

TENANT = "\x00tenant\x00"
TENANT_NUMBER = "\x00tenant-number\x00"
EVENT = "\x00event\x00"
DELIVERY = "\x00delivery\x00"
NOW_MS = "\x00now-ms\x00"


@dataclass(frozen=True, slots=True)
class Sample:
    """A provider's request before signing: the body and the headers sent beside the signature."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Values:
    tenant: str
    event_type: str
    delivery_id: str
    now: float


Render = Callable[[Values], Sample]


@dataclass(frozen=True, slots=True)
class Spec:
    """How to build one provider's sample, and its defaults (the documented example's own values).

    ``tenant`` is "" when the provider's payload names no tenant (the event routes by the URL's ``?id=``).
    ``event_types``: False when the event type is fixed by the payload's shape (only the default is made).
    ``provider_signs``: why only the provider can sign it (its own private key), "" when a secret the
    integration holds signs it.
    """

    render: Render
    event_type: str
    tenant: str = ""
    delivery_id: str = "d-1"
    event_types: bool = True
    provider_signs: str = ""


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _fill(value: Any, v: Values) -> Any:
    if isinstance(value, dict):
        return {_fill(k, v): _fill(item, v) for k, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, v) for item in value]
    if value == TENANT_NUMBER:
        return int(v.tenant) if v.tenant.isdigit() and len(v.tenant) < 16 else v.tenant
    if value == NOW_MS:
        return int(v.now * 1000)
    if isinstance(value, str) and "\x00" in value:
        return value.replace(TENANT, v.tenant).replace(EVENT, v.event_type).replace(DELIVERY, v.delivery_id)
    return value


def _headers(headers: Mapping[str, str], v: Values) -> dict[str, str]:
    return {"content-type": "application/json", **{k: str(_fill(h, v)) for k, h in headers.items()}}


def _of(template: Any, headers: Mapping[str, str] | None = None) -> Render:
    """A JSON body from ``template`` and headers from ``headers``, both filled in."""
    return lambda v: Sample(_json(_fill(template, v)), _headers(headers or {}, v))


def _form(template: Mapping[str, Any]) -> Render:
    """A form-encoded body (Twilio, Mailchimp)."""

    def render(v: Values) -> Sample:
        body = urlencode({k: _fill(item, v) for k, item in template.items()}).encode()
        return Sample(body, {"content-type": "application/x-www-form-urlencoded"})

    return render


def _iso(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the providers whose samples depend on more than substitution --------------------------------------------


_SLACK_SCOPES = {"channels": "channel", "groups": "group", "im": "im", "mpim": "mpim"}


def _slack(v: Values) -> Sample:
    event: dict[str, Any] = {"type": v.event_type, "user": "U0SAMPLE", "ts": f"{v.now:.6f}"}
    if v.event_type.startswith("message."):  # message.channels: a message in a channel of that type
        event["type"] = "message"
        event["channel_type"] = _SLACK_SCOPES.get(v.event_type.split(".")[1], "channel")
    event |= {"channel": "C0SAMPLE", "text": "Hello from hookrouter send"}
    body = {
        "token": "sample",
        "team_id": v.tenant,
        "api_app_id": "A0SAMPLE",
        "event": event,
        "type": "event_callback",
        "event_id": "Ev" + v.delivery_id.replace("-", "")[:10].upper(),
        "event_time": int(v.now),
    }
    return Sample(_json(body), {"content-type": "application/json"})


def _github(v: Values) -> Sample:
    event, _, action = v.event_type.partition(".")
    body: dict[str, Any] = {
        "installation": {"id": _fill(TENANT_NUMBER, v)},
        "repository": {"id": 1296269, "full_name": "octocat/Hello-World", "private": False},
        "sender": {"login": "octocat", "id": 1, "type": "User"},
    }
    if event == "issues":
        body["issue"] = {"number": 1347, "title": "Found a bug", "state": "open", "user": {"login": "octocat"}}
    if action:
        body = {"action": action, **body}
    headers = {"content-type": "application/json", "x-github-event": event, "x-github-delivery": v.delivery_id}
    return Sample(_json(body), headers | {"x-github-hook-id": "292965926", "user-agent": "GitHub-Hookshot/sample"})


def _hubspot(v: Values) -> Sample:
    digits = "".join(c for c in v.delivery_id if c.isdigit()) or "1"
    item = {
        "eventId": int(digits[:9]),
        "subscriptionId": 2881778,
        "portalId": _fill(TENANT_NUMBER, v),
        "appId": 1160452,
        "occurredAt": int(v.now * 1000),
        "subscriptionType": v.event_type,
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
        "changeFlag": "NEW",
    }
    return Sample(_json([item]), {"content-type": "application/json"})


def _linear(v: Values) -> Sample:
    kind, _, action = v.event_type.partition(".")
    body = {
        "action": action or "create",
        "type": kind,
        "organizationId": v.tenant,
        "webhookTimestamp": int(v.now * 1000),
        "webhookId": "000042e3-d123-4980-b49f-8e140eef9329",
        "data": {"id": "2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9", "title": "Sample issue", "priority": 2},
        "url": "https://linear.app/example/issue/EX-1",
    }
    headers = {"content-type": "application/json", "linear-delivery": v.delivery_id, "linear-event": kind}
    return Sample(_json(body), headers)


def _standard(v: Values) -> Sample:
    body = {"type": v.event_type, "timestamp": _iso(v.now), "data": {"id": "inv_1", "amount": 1999, "currency": "usd"}}
    return Sample(_json(body), {"content-type": "application/json", "webhook-id": "msg_" + v.delivery_id})


def _shopify(v: Values) -> Sample:
    body = {
        "id": 820982911946154508,
        "email": "jon@example.com",
        "created_at": _iso(v.now),
        "currency": "USD",
        "total_price": "199.00",
        "line_items": [{"id": 866550311766439020, "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"}],
    }
    headers = {
        "content-type": "application/json",
        "x-shopify-topic": v.event_type,
        "x-shopify-shop-domain": v.tenant,
        "x-shopify-webhook-id": v.delivery_id,
        "x-shopify-api-version": "2024-07",
        "x-shopify-triggered-at": _iso(v.now),
    }
    return Sample(_json(body), headers)


def _mandrill(v: Values) -> Sample:
    events = [{"event": v.event_type, "_id": v.delivery_id, "ts": int(v.now), "msg": {"email": "a@example.com"}}]
    body = urlencode({"mandrill_events": json.dumps(events)}).encode()
    return Sample(body, {"content-type": "application/x-www-form-urlencoded"})


def _gmail(v: Values) -> Sample:
    data = json.dumps({"emailAddress": v.tenant, "historyId": "1234567890"}).encode()
    body = {
        "message": {"data": base64.b64encode(data).decode(), "messageId": v.delivery_id, "publishTime": _iso(v.now)},
        "subscription": "projects/myproject/subscriptions/mysubscription",
    }
    return Sample(_json(body), {"content-type": "application/json"})


def _graph(v: Values) -> Sample:
    body = {
        "value": [
            {
                "id": v.delivery_id,
                "subscriptionId": "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
                "subscriptionExpirationDateTime": "2016-11-20T18:23:45.9356913Z",
                "changeType": v.event_type,
                "resource": "Users/{user_guid}/Messages/{message_id}",
                "tenantId": v.tenant,
                "resourceData": {"@odata.type": "#Microsoft.Graph.Message", "id": "{message_id}"},
            }
        ]
    }
    return Sample(_json(body), {"content-type": "application/json"})


def _business_central(v: Values) -> Sample:
    body = {
        "value": [
            {
                "subscriptionId": "webhookItemsId",
                "expirationDateTime": "2018-10-29T07:52:31Z",
                "resource": f"api/v2.0/companies({v.tenant})/items(26814998-936a-401c-81c1-0e848a64971d)",
                "changeType": v.event_type,
                "lastModifiedDateTime": "2018-10-26T12:54:20.467Z",
            }
        ]
    }
    return Sample(_json(body), {"content-type": "application/json"})


_GRAPH = Spec(_graph, "created", "84bd8158-6d4d-4958-8b9f-9d6445542f95", "lsgTZMr9KwAAA")
_STANDARD = Spec(_standard, "invoice.paid", delivery_id="2Kq8Jr3v")
_META = Spec(
    _of(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": TENANT, "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp"}}]}],
        }
    ),
    "whatsapp_business_account.messages",
    "WABA1",
    event_types=False,
)
# A tenant in a JSON key would not be filled in: none of the templates puts one there.
SPECS: dict[str, Spec] = {
    "adyen": Spec(
        _of(
            {
                "live": "false",
                "notificationItems": [
                    {
                        "NotificationRequestItem": {
                            "amount": {"currency": "EUR", "value": 1130},
                            "eventCode": EVENT,
                            "merchantAccountCode": TENANT,
                            "merchantReference": "TestPayment-1407325143704",
                            "pspReference": DELIVERY,
                            "success": "true",
                        }
                    }
                ],
            }
        ),
        "AUTHORISATION",
        "TestMerchant",
        "7914073381342284",
    ),
    "airtable": Spec(
        _of({"base": {"id": TENANT}, "webhook": {"id": "achW1"}, "timestamp": DELIVERY}),
        "notification",
        "appA1",
        "2024-01-01T00:00:00.000Z",
        event_types=False,
    ),
    "asana": Spec(
        _of(
            {
                "events": [
                    {
                        "user": {"gid": "1201", "resource_type": "user"},
                        "created_at": "2024-01-01T00:00:00.000Z",
                        "action": "changed",
                        "resource": {"gid": DELIVERY, "resource_type": "task", "resource_subtype": "default_task"},
                        "parent": None,
                        "change": {"field": "due_on", "action": "changed"},
                    }
                ]
            }
        ),
        "task.changed.due_on",
        delivery_id="1301",
        event_types=False,
    ),
    "azure_devops": Spec(
        _of({"id": DELIVERY, "eventType": EVENT, "resourceContainers": {"account": {"id": TENANT}}}),
        "git.push",
        "f844ec47-a9db-4511-8281-8b63f4eaf94e",
        "03c164c2-8912-4d5e-8009-3707d5f83734",
    ),
    "bitbucket": Spec(
        _of(
            {"repository": {"workspace": {"uuid": TENANT}}, "push": {"changes": []}},
            {"x-event-key": EVENT, "x-request-uuid": DELIVERY},
        ),
        "repo:push",
        "{ws-1}",
        "req-1",
    ),
    "box": Spec(
        _of(
            {
                "type": "webhook_event",
                "id": DELIVERY,
                "created_by": {"type": "user", "id": "11446498"},
                "trigger": EVENT,
                "webhook": {"id": TENANT, "type": "webhook"},
                "source": {"id": "12345", "type": "file", "name": "a.txt"},
            },
            {"box-delivery-id": DELIVERY},
        ),
        "FILE.UPLOADED",
        "3572464",
        "0f46a6ca-86bf-44ab-8cf5-f08e1e02876b",
    ),
    "buildkite": Spec(
        _of(
            {"event": EVENT, "build": {"id": "b1", "pipeline": {"id": TENANT}}},
            {"x-buildkite-event": EVENT, "x-buildkite-request": DELIVERY},
        ),
        "build.finished",
        "p1",
        "req-1",
    ),
    "calendly": Spec(
        _of(
            {
                "created_at": "2023-11-14T22:13:20.000000Z",
                "created_by": TENANT,
                "event": EVENT,
                "payload": {"uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/" + DELIVERY},
            }
        ),
        "invitee.created",
        "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
        "AAAAAAAAAAAAAAAA",
    ),
    "circleci": Spec(
        _of({"id": DELIVERY, "type": EVENT, "organization": {"id": TENANT}}), "workflow-completed", "org-1", "ev-1"
    ),
    "clerk": Spec(
        _of({"type": EVENT, "object": "event", "data": {"id": "user_1"}}, {"svix-id": DELIVERY}),
        "user.created",
        delivery_id="msg_clerk_1",
    ),
    "clickup": Spec(
        _of({"webhook_id": TENANT, "event": EVENT, "task_id": "c0j", "history_items": [{"id": DELIVERY}]}),
        "taskCreated",
        "7689a169-a000-4985-8676-6902b96d6627",
    ),
    "close": Spec(
        _of(
            {
                "subscription_id": "whsub_5EXq6dSmxzK4Wz1ZFqYAt",
                "event": {
                    "id": DELIVERY,
                    "organization_id": TENANT,
                    "object_type": "lead",
                    "action": "created",
                    "date_created": "2023-11-14T22:13:20.000000",
                    "data": {"id": "lead_1"},
                },
            }
        ),
        "lead.created",
        "orga_XbVPx5fFbKlYTz9PW5Ih1XDhViV10YihIaEgMEb6fVW",
        "ev_4iYbH4C1DgFGuSfqdFgHqP",
        event_types=False,
    ),
    "contentful": Spec(
        _of(
            {"sys": {"id": DELIVERY, "version": 3, "space": {"sys": {"id": TENANT}}}},
            {"x-contentful-topic": EVENT},
        ),
        "ContentManagement.Entry.publish",
        "space1",
        "entry1",
    ),
    "customerio": Spec(
        _of({"event_id": DELIVERY, "object_type": "email", "metric": "delivered", "data": {}}),
        "email.delivered",
        delivery_id="01E4C4",
        event_types=False,
    ),
    "discord": Spec(
        _of({"type": 2, "id": DELIVERY, "application_id": "11", "guild_id": TENANT, "data": {"name": "hello"}}),
        "APPLICATION_COMMAND",
        "G1",
        "ix-1",
        event_types=False,
        provider_signs="Discord signs with its own Ed25519 private key (the integration holds the public key)",
    ),
    "docusign": Spec(
        _of(
            {
                "event": EVENT,
                "apiVersion": "v2.1",
                "uri": "/restapi/v2.1/accounts/a1/envelopes/e1",
                "retryCount": 0,
                "configurationId": 10418,
                "generatedDateTime": "2024-01-01T00:00:00.000Z",
                "data": {"accountId": TENANT, "userId": "u1", "envelopeId": DELIVERY},
            }
        ),
        "envelope-completed",
        "a1b2c3d4-0000-4000-8000-000000000001",
    ),
    "dropbox": Spec(
        _of({"list_folder": {"accounts": [TENANT]}}), "list_folder", "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc"
    ),
    "dynamicsbusinesscentral": Spec(_business_central, "updated", "b18aed47-c385-49d2-b954-dbdf8ad71780"),
    "figma": Spec(
        _of({"event_type": EVENT, "webhook_id": TENANT, "timestamp": DELIVERY, "file_key": "k"}),
        "FILE_UPDATE",
        "22",
        "2024-01-01T00:00:00Z",
    ),
    "freshdesk": Spec(
        _of({"freshdesk_webhook": {"ticket_id": DELIVERY, "triggered_event": EVENT}}),
        "{ticket_action:created}",
        delivery_id="1",
    ),
    "front": Spec(
        _of({"type": EVENT, "id": DELIVERY, "authorization": {"id": TENANT}}), "inbound_received", "cmp_1", "evt_1"
    ),
    "github": Spec(_github, "issues.opened", "42", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    "gitlab": Spec(
        _of(
            {"object_kind": "merge_request", "project": {"id": TENANT_NUMBER}, "object_attributes": {"action": "open"}},
            {"x-gitlab-event": "Merge Request Hook", "x-gitlab-event-uuid": DELIVERY},
        ),
        "merge_request.open",
        "15",
        "uuid-1",
        event_types=False,
    ),
    "gmail": Spec(
        _gmail,
        "history",
        "user@example.com",
        "2070443601311540",
        event_types=False,
        provider_signs="Pub/Sub push requests carry a JWT Google signs with its own key",
    ),
    "gong": Spec(
        _of({"isTest": False, "callData": {"metaData": {"id": DELIVERY, "url": "https://app.gong.io/call?id=1"}}}),
        "call",
        delivery_id="7782342274025937895",
        event_types=False,
        provider_signs="Gong signs with its own RSA private key (the integration holds the public key)",
    ),
    "gorgias": Spec(
        _of(
            {
                "event": EVENT,
                "account": TENANT,
                "ticket": {"id": 4321, "subject": "Where is my order?", "updated_datetime": "2024-01-01T00:00:00Z"},
                "message_id": DELIVERY,
            }
        ),
        "ticket-created",
        "acme",
        "98765",
    ),
    "greenhouse": Spec(
        _of({"action": EVENT, "payload": {"application": {"id": 265277, "candidate": {"id": 265279}}}}),
        "candidate_hired",
    ),
    "helpscout": Spec(
        _of({"id": 1, "mailboxId": TENANT_NUMBER, "type": "email"}, {"x-helpscout-event": EVENT}), "convo.created", "7"
    ),
    "hubspot": Spec(_hubspot, "contact.creation", "62515", "1837274"),
    "intercom": Spec(
        _of(
            {
                "type": "notification_event",
                "app_id": TENANT,
                "topic": EVENT,
                "id": DELIVERY,
                "created_at": 1700000000,
                "delivery_attempts": 1,
                "data": {"type": "notification_event_data", "item": {"type": "conversation", "id": "147"}},
            }
        ),
        "conversation.user.created",
        "ecahpwf5",
        "notif_ccd8a4d0-f965-11e3-a367-c779cae3e1b3",
    ),
    "jira": Spec(
        _of(
            {
                "timestamp": NOW_MS,
                "webhookEvent": EVENT,
                "issue_event_type_name": "issue_created",
                "user": {"self": TENANT + "/rest/api/2/user?accountId=5b10a2844c20165700ede21g"},
                "issue": {"id": "10148", "self": TENANT + "/rest/api/2/issue/10148", "key": "TEST-1"},
            },
            {"x-atlassian-webhook-identifier": DELIVERY},
        ),
        "jira:issue_created",
        "https://acme.atlassian.net",
    ),
    "klaviyo": Spec(
        _of(
            {"data": [{"topic": EVENT, "external_id": DELIVERY, "payload": {}}], "meta": {"klaviyo_webhook_id": "01J"}}
        ),
        "event:klaviyo.email_delivered",
        delivery_id="5e1c7d",
    ),
    "launchdarkly": Spec(
        _of({"_id": DELIVERY, "kind": "flag", "accesses": [{"action": "updateOn"}]}),
        "flag.updateOn",
        delivery_id="5e1",
        event_types=False,
    ),
    "lever": Spec(
        _of({"event": EVENT, "id": DELIVERY, "data": {"candidateId": "c1", "toStageId": "s2"}}), "candidateStageChange"
    ),
    "line": Spec(
        _of(
            {
                "destination": TENANT,
                "events": [{"type": EVENT, "webhookEventId": DELIVERY, "message": {"type": "text", "text": "hi"}}],
            }
        ),
        "message",
        "U1bot",
        "01H1",
    ),
    "linear": Spec(_linear, "Issue.create", "org-42"),
    "mailchimp": Spec(
        _form(
            {
                "type": EVENT,
                "fired_at": "2009-03-26 21:35:57",
                "data[id]": DELIVERY,
                "data[list_id]": TENANT,
                "data[email]": "api@mailchimp.com",
            }
        ),
        "subscribe",
        "a6b5da1054",
        "8a25ff1d98",
    ),
    "mailgun": Spec(
        _of({"signature": {"token": DELIVERY}, "event-data": {"event": EVENT, "id": "CPgfbmQMTCKtHW6uIWtuVe"}}),
        "delivered",
        delivery_id="tok-1",
    ),
    "mandrill": Spec(_mandrill, "send", delivery_id="exampleaaaaaaaaaaaaaaaaaaaaaaaaa"),
    "meta": _META,
    "microsoft_graph": _GRAPH,
    "miro": Spec(
        _of(
            {
                "type": "board_subscription",
                "event": {
                    "boardId": TENANT,
                    "type": EVENT,
                    "item": {"id": "3458764517517852417", "type": "sticky_note", "data": {"content": "Hello"}},
                },
            }
        ),
        "create",
        "uXjVOfjkmAk=",
    ),
    "mollie": Spec(_of({"resource": "event", "id": DELIVERY, "type": EVENT}), "payment-link.paid", delivery_id="ev_1"),
    "monday": Spec(
        _of(
            {
                "event": {
                    "userId": 4012689,
                    "boardId": 1771812698,
                    "pulseId": 1772099344,
                    "pulseName": "Item",
                    "app": "monday",
                    "type": EVENT,
                    "triggerTime": "2024-01-01T00:00:00.000Z",
                    "subscriptionId": 73759690,
                    "triggerUuid": DELIVERY,
                },
                "data": {"account_id": TENANT_NUMBER},
            }
        ),
        "create_pulse",
        "12345",
        "b5ed2e17c530f43668de130142445cba",
    ),
    "mux": Spec(
        _of({"type": EVENT, "id": DELIVERY, "environment": {"id": TENANT}, "data": {}}),
        "video.asset.ready",
        "env-1",
        "ev-mux-1",
    ),
    "netlify": Spec(
        _of({"id": DELIVERY, "site_id": TENANT, "state": "ready"}, {"x-netlify-event": EVENT}),
        "deploy_created",
        "site1",
        "dep1",
    ),
    "notion": Spec(
        _of(
            {
                "id": DELIVERY,
                "timestamp": "2024-12-05T23:55:34.285Z",
                "workspace_id": TENANT,
                "workspace_name": "Quantify Labs",
                "subscription_id": "29d75c0d-5546-4414-8459-7b7a92f1fc4b",
                "integration_id": "0ef2e755-4912-8096-91c1-00376a88a5ca",
                "type": EVENT,
                "authors": [{"id": "c7c11cca-1d73-471d-9b6e-bdef51470190", "type": "person"}],
                "attempt_number": 1,
                "entity": {"id": "153104cd-477e-809d-8dc4-ff2d96ae3090", "type": "page"},
                "data": {"parent": {"id": TENANT, "type": "space"}},
            }
        ),
        "page.created",
        "13950b26-c203-4f3b-b97d-93ec06319565",
        "367cba44-b6f3-4c92-81e7-6a2e9659efd4",
    ),
    "npm": Spec(_of({"event": EVENT, "name": "@npm/test"}), "package:publish"),
    "okta": Spec(
        _of(
            {
                "eventType": "com.okta.event_hook",
                "eventId": "b5a1",
                "data": {"events": [{"uuid": DELIVERY, "eventType": EVENT}]},
            }
        ),
        "user.lifecycle.create",
        delivery_id="u-1",
    ),
    "onfido": Spec(
        _of({"payload": {"resource_type": "check", "action": EVENT, "object": {"id": DELIVERY}}}),
        "check.completed",
        delivery_id="chk-1",
    ),
    "outreach": Spec(
        _of(
            {
                "data": {"type": "prospect", "id": 1, "attributes": {"firstName": "Ada"}},
                "meta": {"deliveredAt": "2024-01-01T00:00:00.000Z", "eventName": EVENT},
            },
            {"outreach-webhook-id": DELIVERY},
        ),
        "prospect.updated",
    ),
    "paddle": Spec(
        _of(
            {
                "event_id": DELIVERY,
                "event_type": EVENT,
                "occurred_at": "2023-08-21T11:57:47.390028Z",
                "notification_id": "ntf_01h8bzam1z32agrxjwhjgqk8w6",
                "data": {"id": "txn_01h8bz8", "status": "completed"},
            }
        ),
        "transaction.completed",
        delivery_id="evt_01h8bzakzx3hm2fmen703n5q45",
    ),
    "pagerduty": Spec(
        _of({"event": {"id": DELIVERY, "event_type": EVENT, "data": {}}}, {"x-webhook-subscription": TENANT}),
        "incident.triggered",
        "PSUB1",
        "01DEN",
    ),
    "pandadoc": Spec(
        _of([{"event": EVENT, "data": {"id": DELIVERY, "status": "document.completed"}}]),
        "document_state_changed",
        delivery_id="doc1",
    ),
    "paypal": Spec(
        _of(
            {
                "id": DELIVERY,
                "event_type": EVENT,
                "resource": {"id": "42311647XV020574X", "payee": {"merchant_id": TENANT}},
            }
        ),
        "PAYMENT.CAPTURE.COMPLETED",
        "7KMB7TPH3L4VQ",
        "WH-2WR32451HC0233532-67976317FL4543714",
        provider_signs="PayPal signs with its own certificate's private key",
    ),
    "persona": Spec(
        _of({"data": {"type": "event", "id": DELIVERY, "attributes": {"name": EVENT}}}),
        "inquiry.completed",
        delivery_id="evt_p1",
    ),
    "pipedrive": Spec(
        _of(
            {
                "meta": {
                    "action": "change",
                    "entity": "deal",
                    "company_id": TENANT,
                    "user_id": "18487521",
                    "entity_id": "1",
                    "version": "2.0",
                    "correlation_id": DELIVERY,
                },
                "data": {"id": 1, "title": "test deal"},
                "previous": None,
            }
        ),
        "change.deal",
        "12882925",
        event_types=False,
    ),
    "plaid": Spec(
        _of({"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": TENANT}),
        "TRANSACTIONS.SYNC_UPDATES_AVAILABLE",
        "item-1",
        event_types=False,
        provider_signs="Plaid signs with its own ES256 private key (the integration holds the public key)",
    ),
    "postmark": Spec(
        _of({"RecordType": EVENT, "ServerID": TENANT_NUMBER, "MessageID": DELIVERY}), "Delivery", "23", "m-1"
    ),
    "quickbooks": Spec(
        _of(
            {
                "eventNotifications": [
                    {
                        "realmId": TENANT,
                        "dataChangeEvent": {
                            "entities": [
                                {
                                    "name": "Customer",
                                    "id": DELIVERY,
                                    "operation": "Create",
                                    "lastUpdated": "2015-10-05T14:42:19-0700",
                                }
                            ]
                        },
                    }
                ]
            }
        ),
        "Customer.Create",
        "1185883450",
        "1",
        event_types=False,
    ),
    "razorpay": Spec(
        _of(
            {"entity": "event", "account_id": TENANT, "event": EVENT, "payload": {}}, {"x-razorpay-event-id": DELIVERY}
        ),
        "payment.captured",
        "acc_BFQ7uQEaa7j2z7",
        "evt_rzp_1",
    ),
    "resend": Spec(
        _of({"type": EVENT, "data": {"email_id": "e1"}}, {"svix-id": DELIVERY}),
        "email.delivered",
        delivery_id="msg_resend_1",
    ),
    "salesloft": Spec(
        _of(
            {"id": 1, "email_address": "person@example.com", "updated_at": "2024-01-01T00:00:00.000000-05:00"},
            {"x-salesloft-event": EVENT},
        ),
        "person_updated",
    ),
    "sanity": Spec(
        _of(
            {"_id": "doc1", "_type": "post", "title": "hello"},
            {"sanity-operation": "create", "sanity-project-id": TENANT, "idempotency-key": DELIVERY},
        ),
        "post.create",
        "proj1",
        "idem-1",
        event_types=False,
    ),
    "segment": Spec(
        _of(
            {
                "type": "track",
                "event": EVENT,
                "messageId": DELIVERY,
                "projectId": TENANT,
                "userId": "u1",
                "properties": {"total": 10},
            }
        ),
        "Order Completed",
        "proj_123",
        "ajs-next-1700000000000-abc",
    ),
    "sendgrid": Spec(
        _of([{"email": "a@example.com", "event": EVENT, "sg_event_id": DELIVERY, "timestamp": 1699999990}]),
        "delivered",
        delivery_id="ev1",
        provider_signs="SendGrid signs with its own ECDSA private key (the integration holds the public key)",
    ),
    "sentry": Spec(
        _of(
            {"action": "created", "installation": {"uuid": TENANT}, "data": {}},
            {"sentry-hook-resource": "issue", "sentry-hook-request-id": DELIVERY},
        ),
        "issue.created",
        "inst-1",
        "req-1",
        event_types=False,
    ),
    "shopify": Spec(_shopify, "orders/create", "example.myshopify.com", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
    "slack": Spec(_slack, "message.channels", "T0001", "0123456789"),
    "smartsheet": Spec(
        _of(
            {
                "nonce": DELIVERY,
                "timestamp": "2024-01-01T00:00:00.000+00:00",
                "webhookId": 4,
                "scope": "sheet",
                "scopeObjectId": TENANT_NUMBER,
                "events": [{"objectType": "row", "eventType": "created", "id": 1}],
            }
        ),
        "row.created",
        "3285357287499652",
        "n1",
        event_types=False,
    ),
    "square": Spec(
        _of({"merchant_id": TENANT, "type": EVENT, "event_id": DELIVERY, "data": {}}),
        "payment.updated",
        "6SSW7HV8K2ST5",
        "e-sq-1",
    ),
    "standard_webhooks": _STANDARD,
    "stripe": Spec(
        _of(
            {
                "id": DELIVERY,
                "object": "event",
                "account": TENANT,
                "api_version": "2024-06-20",
                "created": 1700000000,
                "data": {"object": {"id": "cus_NffrFeUfNV2Hib", "object": "customer", "email": "jenny@example.com"}},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": EVENT,
            }
        ),
        "customer.created",
        "acct_1",
        "evt_1NG8Du2eZvKYlo2CUI79vXWy",
    ),
    "telegram": Spec(
        _of({"update_id": 10000, "message": {"message_id": 1, "chat": {"id": TENANT_NUMBER}, "text": "/start"}}),
        "message",
        "1111111",
        event_types=False,
    ),
    "todoist": Spec(
        _of({"event_name": EVENT, "user_id": TENANT, "event_data": {}}, {"x-todoist-delivery-id": DELIVERY}),
        "item:added",
        "2671355",
        "del-1",
    ),
    "trello": Spec(
        _of(
            {
                "model": {"id": TENANT, "name": "Trello Development"},
                "action": {
                    "id": DELIVERY,
                    "type": EVENT,
                    "date": "2013-07-31T16:58:51.949Z",
                    "data": {"board": {"id": TENANT}},
                },
            }
        ),
        "updateCard",
        "4d5ea62fd76aa1136000000c",
        "51f9424bcd6e040f3c002412",
    ),
    "twilio": Spec(
        _form({"AccountSid": TENANT, "MessageSid": DELIVERY, "MessageStatus": EVENT}),
        "delivered",
        "AC123",
        "SM1",
    ),
    "twitch": Spec(
        _of(
            {
                "subscription": {"id": "s1", "type": EVENT, "condition": {"broadcaster_user_id": TENANT}},
                "event": {"user_id": "1234"},
            },
            {"twitch-eventsub-message-id": DELIVERY},
        ),
        "channel.follow",
        "1337",
        "msg-twitch-1",
    ),
    "typeform": Spec(
        _of(
            {
                "event_id": DELIVERY,
                "event_type": EVENT,
                "form_response": {"form_id": TENANT, "token": "a3a12ec67a1365927098a606107fac15", "answers": []},
            }
        ),
        "form_response",
        "lT4Z3j",
        "01HQ3Z8W2K",
    ),
    "vercel": Spec(
        _of({"id": DELIVERY, "type": EVENT, "payload": {"team": {"id": TENANT}}}),
        "deployment.succeeded",
        "team_1",
        "evt_v1",
    ),
    "webflow": Spec(
        _of({"triggerType": EVENT, "payload": {"siteId": TENANT, "data": {}}}), "form_submission", "site-1"
    ),
    "workos": Spec(
        _of({"id": DELIVERY, "event": EVENT, "data": {"organization_id": TENANT}}),
        "dsync.user.created",
        "org_01",
        "event_01",
    ),
    "xero": Spec(
        _of(
            {
                "events": [
                    {
                        "resourceUrl": "https://api.xero.com/api.xro/2.0/Contacts/" + DELIVERY,
                        "resourceId": DELIVERY,
                        "eventDateUtc": "2017-06-21T01:15:39.902",
                        "eventType": "UPDATE",
                        "eventCategory": "CONTACT",
                        "tenantId": TENANT,
                        "tenantType": "ORGANISATION",
                    }
                ],
                "firstEventSequence": 1,
                "lastEventSequence": 1,
                "entropy": "S0m3r4Nd0mt3xt",
            }
        ),
        "CONTACT.UPDATE",
        "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f",
        "717f2bfc-c6d4-41fd-b238-3f2f0c0cf777",
        event_types=False,
    ),
    "zendesk": Spec(
        _of(
            {
                "account_id": TENANT_NUMBER,
                "detail": {"id": "35436", "subject": "Help"},
                "id": DELIVERY,
                "subject": "zen:ticket:35436",
                "time": "2023-11-14T22:13:20Z",
                "type": EVENT,
                "zendesk_event_version": "2022-11-06",
            }
        ),
        "zen:event-type:ticket.created",
        "12514403",
        "cbe4028c-7239-495d-b020-f22348516046",
    ),
    "zoom": Spec(
        _of(
            {
                "event": EVENT,
                "event_ts": NOW_MS,
                "payload": {
                    "account_id": TENANT,
                    "object": {
                        "id": "85746065432",
                        "uuid": "aDYlohsHRtCd4ii1uC2+hA==",
                        "topic": "My Meeting",
                        "type": 2,
                    },
                },
            }
        ),
        "meeting.started",
        "AAAAAABBBB",
    ),
}
# Names that stand for another provider's scheme and payload.
ALIASES = {
    "facebook": "meta",
    "instagram": "meta",
    "whatsapp": "meta",
    "microsoft-teams": "microsoft_graph",
    "onedrive": "microsoft_graph",
    "outlook": "microsoft_graph",
    "sharepoint": "microsoft_graph",
    "svix": "standard_webhooks",
}


def spec(provider: str) -> Spec:
    """The sample spec of ``provider`` (an alias: its provider's); KeyError when there is none."""
    return SPECS[ALIASES.get(provider, provider)]


def names() -> list[str]:
    """Every provider name with a sample, aliases included."""
    return sorted([*SPECS, *ALIASES])


def sample(
    provider: str,
    *,
    provider_id: str | None = None,
    event_type: str | None = None,
    delivery_id: str | None = None,
    now: float = 1_700_000_000,
) -> Sample:
    """``provider``'s sample with these values (unset: the documented example's). KeyError: no sample.

    ValueError when ``event_type`` is not the default of a provider whose payload fixes its event type.
    """
    found = spec(provider)
    kind = event_type or found.event_type
    if kind != found.event_type and not found.event_types:
        raise ValueError(f"the {provider} sample is a {found.event_type} event; its payload fixes the event type")
    tenant = found.tenant if provider_id is None else provider_id
    return found.render(Values(tenant, kind, found.delivery_id if delivery_id is None else delivery_id, now))
