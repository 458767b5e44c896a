"""One realistic delivery per catalog provider, shaped after each provider's documented example payload.

Shared by the verifier tests (``test_catalog.py``) and the end-to-end HTTP test: the body, the metadata
headers the provider sends beside its signature, the secrets to sign and verify with, and what ``extract``
must find, one ``(provider_id, event_type, delivery_id)`` per event.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.verifiers.pki import issue


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class Sample:
    body: bytes
    expected: tuple[tuple[str, str, str], ...]
    headers: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ("catalog-test-secret-0123456789abcdef",)
    verify_with: tuple[str, ...] = ()  # when verifying takes other secrets (a public key) than signing

    @property
    def checks(self) -> tuple[str, ...]:
        return self.verify_with or self.secrets


def _p256(seed: int) -> tuple[str, str]:
    """A fixed P-256 key pair as (private PEM, public PEM): the same on every run."""
    key = ec.derive_private_key(seed, ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private.decode(), public.decode()


PLAID_PRIVATE, PLAID_PUBLIC = _p256(0x5EED_1234_5678)
OTHER_PRIVATE, _ = _p256(0x0DD_BA11)
PAYPAL_ROOT = issue("Test PayPal Root", ca=True)
PAYPAL_INTERMEDIATE = issue("Test PayPal Intermediate", PAYPAL_ROOT, ca=True)
PAYPAL_LEAF = issue("messageverificationcerts.paypal.com", PAYPAL_INTERMEDIATE)
PAYPAL_OTHER = issue("messageverificationcerts.paypal.com", PAYPAL_INTERMEDIATE)
PAYPAL_CHECKS = (
    "webhook_id=1JE4291016473214C",
    PAYPAL_ROOT.cert_pem,
    "cert=" + PAYPAL_LEAF.cert_pem + PAYPAL_INTERMEDIATE.cert_pem,
)
ADYEN_KEY = "44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056"  # Adyen's own test key


WHSEC = "whsec_" + base64.b64encode(b"catalog-standard-webhooks-key-32").decode()
BASIC = "hookrouter:catalog-pass-word"

SAMPLES: dict[str, Sample] = {
    "airtable": Sample(
        _json({"base": {"id": "appA1"}, "webhook": {"id": "achW1"}, "timestamp": "2024-01-01T00:00:00.000Z"}),
        (("appA1", "notification", "achW1:2024-01-01T00:00:00.000Z"),),
        secrets=(base64.b64encode(b"airtable-mac-secret-bytes").decode(),),
    ),
    "azure_devops": Sample(
        _json(
            {
                "id": "03c164c2-8912-4d5e-8009-3707d5f83734",
                "eventType": "git.push",
                "resourceContainers": {"account": {"id": "f844ec47-a9db-4511-8281-8b63f4eaf94e"}},
            }
        ),
        (("f844ec47-a9db-4511-8281-8b63f4eaf94e", "git.push", "03c164c2-8912-4d5e-8009-3707d5f83734"),),
        secrets=(BASIC,),
    ),
    "bitbucket": Sample(
        _json({"repository": {"workspace": {"uuid": "{ws-1}"}}, "push": {"changes": []}}),
        (("{ws-1}", "repo:push", "req-1"),),
        {"x-event-key": "repo:push", "x-request-uuid": "req-1"},
    ),
    "buildkite": Sample(
        _json({"event": "build.finished", "build": {"id": "b1", "pipeline": {"id": "p1"}}}),
        (("p1", "build.finished", "req-1"),),
        {"x-buildkite-event": "build.finished", "x-buildkite-request": "req-1"},
    ),
    "circleci": Sample(
        _json({"id": "ev-1", "type": "workflow-completed", "organization": {"id": "org-1"}}),
        (("org-1", "workflow-completed", "ev-1"),),
    ),
    "clerk": Sample(
        _json({"type": "user.created", "object": "event", "data": {"id": "user_1"}}),
        (("", "user.created", "msg_clerk_1"),),
        {"svix-id": "msg_clerk_1"},
        (WHSEC,),
    ),
    "customerio": Sample(
        _json({"event_id": "01E4C4", "object_type": "email", "metric": "delivered", "data": {}}),
        (("", "email.delivered", "01E4C4"),),
    ),
    "figma": Sample(
        _json({"event_type": "FILE_UPDATE", "webhook_id": "22", "timestamp": "2024-01-01T00:00:00Z", "file_key": "k"}),
        (("22", "FILE_UPDATE", "22:2024-01-01T00:00:00Z"),),
    ),
    "gitlab": Sample(
        _json({"object_kind": "merge_request", "project": {"id": 15}, "object_attributes": {"action": "open"}}),
        (("15", "merge_request.open", "uuid-1"),),
        {"x-gitlab-event": "Merge Request Hook", "x-gitlab-event-uuid": "uuid-1"},
    ),
    "helpscout": Sample(
        _json({"id": 1, "mailboxId": 7, "type": "email"}),
        (("7", "convo.created", ""),),
        {"x-helpscout-event": "convo.created"},
    ),
    "launchdarkly": Sample(
        _json({"_id": "5e1", "kind": "flag", "accesses": [{"action": "updateOn"}]}),
        (("", "flag.updateOn", "5e1"),),
    ),
    "line": Sample(
        _json(
            {
                "destination": "U1bot",
                "events": [
                    {"type": "message", "webhookEventId": "01H1", "message": {"type": "text", "text": "hi"}},
                    {"type": "follow", "webhookEventId": "01H2"},
                ],
            }
        ),
        (("U1bot", "message", "01H1"), ("U1bot", "follow", "01H2")),
    ),
    "meta": Sample(
        _json(
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {"id": "WABA1", "changes": [{"field": "messages", "value": {}}]},
                    {"id": "WABA2", "changes": [{"field": "message_template_status_update", "value": {}}]},
                ],
            }
        ),
        (
            ("WABA1", "whatsapp_business_account.messages", ""),
            ("WABA2", "whatsapp_business_account.message_template_status_update", ""),
        ),
        secrets=("meta-app-secret-0123456789abcdef", "verify_token=meta-verify-token"),
    ),
    "mollie": Sample(
        _json({"resource": "event", "id": "event_GvJ8WHrp5isUdRub9CJyH", "type": "payment-link.paid"}),
        (("", "payment-link.paid", "event_GvJ8WHrp5isUdRub9CJyH"),),
    ),
    "mux": Sample(
        _json({"type": "video.asset.ready", "id": "ev-mux-1", "environment": {"id": "env-1"}, "data": {}}),
        (("env-1", "video.asset.ready", "ev-mux-1"),),
    ),
    "npm": Sample(_json({"event": "package:publish", "name": "@npm/test"}), (("", "package:publish", ""),)),
    "okta": Sample(
        _json(
            {
                "eventType": "com.okta.event_hook",
                "eventId": "b5a1",
                "data": {"events": [{"uuid": "u-1", "eventType": "user.lifecycle.create"}]},
            }
        ),
        (("", "user.lifecycle.create", "u-1"),),
    ),
    "onfido": Sample(
        _json({"payload": {"resource_type": "check", "action": "check.completed", "object": {"id": "chk-1"}}}),
        (("", "check.completed", "chk-1:check.completed"),),
    ),
    "pagerduty": Sample(
        _json({"event": {"id": "01DEN", "event_type": "incident.triggered", "data": {}}}),
        (("PSUB1", "incident.triggered", "01DEN"),),
        {"x-webhook-subscription": "PSUB1"},
    ),
    "persona": Sample(
        _json({"data": {"type": "event", "id": "evt_p1", "attributes": {"name": "inquiry.completed"}}}),
        (("", "inquiry.completed", "evt_p1"),),
    ),
    "postmark": Sample(
        _json({"RecordType": "Delivery", "ServerID": 23, "MessageID": "m-1"}),
        (("23", "Delivery", "m-1:Delivery"),),
        secrets=(BASIC,),
    ),
    "razorpay": Sample(
        _json({"entity": "event", "account_id": "acc_BFQ7uQEaa7j2z7", "event": "payment.captured", "payload": {}}),
        (("acc_BFQ7uQEaa7j2z7", "payment.captured", "evt_rzp_1"),),
        {"x-razorpay-event-id": "evt_rzp_1"},
    ),
    "resend": Sample(
        _json({"type": "email.delivered", "data": {"email_id": "e1"}}),
        (("", "email.delivered", "msg_resend_1"),),
        {"svix-id": "msg_resend_1"},
        (WHSEC,),
    ),
    "sanity": Sample(
        _json({"_id": "doc1", "_type": "post", "title": "hello"}),
        (("proj1", "post.create", "idem-1"),),
        {"sanity-operation": "create", "sanity-project-id": "proj1", "idempotency-key": "idem-1"},
    ),
    "sentry": Sample(
        _json({"action": "created", "installation": {"uuid": "inst-1"}, "data": {}}),
        (("inst-1", "issue.created", "req-1"),),
        {"sentry-hook-resource": "issue", "sentry-hook-request-id": "req-1"},
    ),
    "smartsheet": Sample(
        _json(
            {
                "nonce": "n1",
                "timestamp": "2024-01-01T00:00:00.000+00:00",
                "webhookId": 4,
                "scope": "sheet",
                "scopeObjectId": 3285357287499652,
                "events": [{"objectType": "row", "eventType": "created", "id": 1}],
            }
        ),
        (("3285357287499652", "row.created", ""),),
    ),
    "square": Sample(
        _json({"merchant_id": "6SSW7HV8K2ST5", "type": "payment.updated", "event_id": "e-sq-1", "data": {}}),
        (("6SSW7HV8K2ST5", "payment.updated", "e-sq-1"),),
    ),
    "telegram": Sample(
        _json({"update_id": 10000, "message": {"message_id": 1, "chat": {"id": 1111111}, "text": "/start"}}),
        (("1111111", "message", "10000"),),
    ),
    "todoist": Sample(
        _json({"event_name": "item:added", "user_id": "2671355", "event_data": {}}),
        (("2671355", "item:added", "del-1"),),
        {"x-todoist-delivery-id": "del-1"},
    ),
    "twitch": Sample(
        _json(
            {
                "subscription": {"id": "s1", "type": "channel.follow", "condition": {"broadcaster_user_id": "1337"}},
                "event": {"user_id": "1234"},
            }
        ),
        (("1337", "channel.follow", "msg-twitch-1"),),
        {"twitch-eventsub-message-id": "msg-twitch-1"},
    ),
    "vercel": Sample(
        _json({"id": "evt_v1", "type": "deployment.succeeded", "payload": {"team": {"id": "team_1"}}}),
        (("team_1", "deployment.succeeded", "evt_v1"),),
    ),
    "webflow": Sample(
        _json({"triggerType": "form_submission", "payload": {"siteId": "site-1", "data": {}}}),
        (("site-1", "form_submission", ""),),
    ),
    "workos": Sample(
        _json({"id": "event_01", "event": "dsync.user.created", "data": {"organization_id": "org_01"}}),
        (("org_01", "dsync.user.created", "event_01"),),
    ),
    "adyen": Sample(
        _json(
            {
                "live": "false",
                "notificationItems": [
                    {
                        "NotificationRequestItem": {
                            "amount": {"currency": "EUR", "value": 1130},
                            "eventCode": "AUTHORISATION",
                            "merchantAccountCode": "TestMerchant",
                            "merchantReference": "TestPayment-1407325143704",
                            "pspReference": "7914073381342284",
                            "success": "true",
                        }
                    }
                ],
            }
        ),
        (("TestMerchant", "AUTHORISATION", "7914073381342284:AUTHORISATION"),),
        secrets=(ADYEN_KEY,),
    ),
    "contentful": Sample(
        _json({"sys": {"id": "entry1", "version": 3, "space": {"sys": {"id": "space1"}}}}),
        (("space1", "ContentManagement.Entry.publish", "entry1:3"),),
        {"x-contentful-topic": "ContentManagement.Entry.publish"},
    ),
    "freshdesk": Sample(
        _json({"freshdesk_webhook": {"ticket_id": "1", "triggered_event": "{ticket_action:created}"}}),
        (("", "{ticket_action:created}", ""),),
        secrets=(BASIC,),
    ),
    "front": Sample(
        _json({"type": "inbound_received", "id": "evt_front_1", "authorization": {"id": "cmp_1"}}),
        (("cmp_1", "inbound_received", "evt_front_1"),),
    ),
    "mailgun": Sample(
        _json({"signature": {"token": "tok-1"}, "event-data": {"event": "delivered", "id": "CPgfbmQMTCKtHW6uIWtuVe"}}),
        (("", "delivered", "tok-1"),),
    ),
    "netlify": Sample(
        _json({"id": "dep1", "site_id": "site1", "state": "ready"}),
        (("site1", "deploy_created", "dep1:ready"),),
        {"x-netlify-event": "deploy_created"},
    ),
    "pandadoc": Sample(
        _json([{"event": "document_state_changed", "data": {"id": "doc1", "status": "document.completed"}}]),
        (("", "document_state_changed", "doc1:document_state_changed:document.completed"),),
    ),
    "plaid": Sample(
        _json({"webhook_type": "TRANSACTIONS", "webhook_code": "SYNC_UPDATES_AVAILABLE", "item_id": "item-1"}),
        (("item-1", "TRANSACTIONS.SYNC_UPDATES_AVAILABLE", ""),),
        secrets=(PLAID_PRIVATE,),
        verify_with=(PLAID_PUBLIC,),
    ),
    "paypal": Sample(
        _json(
            {
                "id": "WH-2WR32451HC0233532-67976317FL4543714",
                "event_type": "PAYMENT.CAPTURE.COMPLETED",
                "resource": {"id": "42311647XV020574X", "payee": {"merchant_id": "7KMB7TPH3L4VQ"}},
            }
        ),
        (("7KMB7TPH3L4VQ", "PAYMENT.CAPTURE.COMPLETED", "WH-2WR32451HC0233532-67976317FL4543714"),),
        secrets=(PAYPAL_LEAF.key_pem, "webhook_id=1JE4291016473214C"),
        verify_with=PAYPAL_CHECKS,
    ),
}
# Names that are aliases of a catalog module: the same sample.
ALIASES = {"facebook": "meta", "instagram": "meta", "whatsapp": "meta"}


def other_secret(secret: str) -> str:
    """A secret of the same shape as ``secret`` that is not it (a verify token or webhook id is kept: neither
    signs anything)."""
    if secret.startswith(("verify_token=", "webhook_id=")):
        return secret
    if secret == PAYPAL_LEAF.key_pem:
        return PAYPAL_OTHER.key_pem
    if secret.startswith("-----BEGIN"):
        return OTHER_PRIVATE
    if re.fullmatch("[0-9A-Fa-f]+", secret):
        return ("1" if secret[0] != "1" else "2") + secret[1:]
    if secret == BASIC:
        return "hookrouter:another-pass-word"
    if secret == WHSEC:
        return "whsec_" + base64.b64encode(b"another-standard-webhooks-key-32").decode()
    if secret.endswith("="):
        return base64.b64encode(b"another-key-bytes").decode()
    return "another-" + secret
