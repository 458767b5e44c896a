"""The catalog providers' sample deliveries (``verifiers.samples``, the product's own) with what only tests hold:
the secrets and test keys to sign and verify with, and what ``extract`` must find in each, one
``(provider_id, event_type, delivery_id)`` per event.

Shared by the verifier tests (``test_catalog.py``) and the end-to-end HTTP test.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.verifiers.pki import issue
from verifiers import samples


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

EXPECTED: dict[str, tuple[tuple[str, str, str], ...]] = {
    "adyen": (("TestMerchant", "AUTHORISATION", "7914073381342284:AUTHORISATION"),),
    "airtable": (("appA1", "notification", "achW1:2024-01-01T00:00:00.000Z"),),
    "azure_devops": (("f844ec47-a9db-4511-8281-8b63f4eaf94e", "git.push", "03c164c2-8912-4d5e-8009-3707d5f83734"),),
    "bitbucket": (("{ws-1}", "repo:push", "req-1"),),
    "buildkite": (("p1", "build.finished", "req-1"),),
    "circleci": (("org-1", "workflow-completed", "ev-1"),),
    "clerk": (("", "user.created", "msg_clerk_1"),),
    "contentful": (("space1", "ContentManagement.Entry.publish", "entry1:3"),),
    "customerio": (("", "email.delivered", "01E4C4"),),
    "figma": (("22", "FILE_UPDATE", "22:2024-01-01T00:00:00Z"),),
    "freshdesk": (("", "{ticket_action:created}", ""),),
    "front": (("cmp_1", "inbound_received", "evt_1"),),
    "gitlab": (("15", "merge_request.open", "uuid-1"),),
    "gorgias": (("acme", "ticket-created", "98765"),),
    "helpscout": (("7", "convo.created", ""),),
    "klaviyo": (("", "event:klaviyo.email_delivered", "5e1c7d"),),
    "launchdarkly": (("", "flag.updateOn", "5e1"),),
    "line": (("U1bot", "message", "01H1"),),
    "mailgun": (("", "delivered", "tok-1"),),
    "meta": (("WABA1", "whatsapp_business_account.messages", ""),),
    "miro": (("uXjVOfjkmAk=", "create", ""),),
    "mollie": (("", "payment-link.paid", "ev_1"),),
    "mux": (("env-1", "video.asset.ready", "ev-mux-1"),),
    "netlify": (("site1", "deploy_created", "dep1:ready"),),
    "npm": (("", "package:publish", ""),),
    "okta": (("", "user.lifecycle.create", "u-1"),),
    "onfido": (("", "check.completed", "chk-1:check.completed"),),
    "pagerduty": (("PSUB1", "incident.triggered", "01DEN"),),
    "pandadoc": (("", "document_state_changed", "doc1:document_state_changed:document.completed"),),
    "paypal": (("7KMB7TPH3L4VQ", "PAYMENT.CAPTURE.COMPLETED", "WH-2WR32451HC0233532-67976317FL4543714"),),
    "persona": (("", "inquiry.completed", "evt_p1"),),
    "plaid": (("item-1", "TRANSACTIONS.SYNC_UPDATES_AVAILABLE", ""),),
    "postmark": (("23", "Delivery", "m-1:Delivery"),),
    "razorpay": (("acc_BFQ7uQEaa7j2z7", "payment.captured", "evt_rzp_1"),),
    "resend": (("", "email.delivered", "msg_resend_1"),),
    "sanity": (("proj1", "post.create", "idem-1"),),
    "sentry": (("inst-1", "issue.created", "req-1"),),
    "smartsheet": (("3285357287499652", "row.created", ""),),
    "square": (("6SSW7HV8K2ST5", "payment.updated", "e-sq-1"),),
    "telegram": (("1111111", "message", "10000"),),
    "todoist": (("2671355", "item:added", "del-1"),),
    "twitch": (("1337", "channel.follow", "msg-twitch-1"),),
    "vercel": (("team_1", "deployment.succeeded", "evt_v1"),),
    "webflow": (("site-1", "form_submission", ""),),
    "workos": (("org_01", "dsync.user.created", "event_01"),),
}
# The secrets each scheme signs with, where a plain string is not one (the rest sign with Sample's default).
SECRETS: dict[str, tuple[str, ...]] = {
    "airtable": (base64.b64encode(b"airtable-mac-secret-bytes").decode(),),
    "azure_devops": (BASIC,),
    "clerk": (WHSEC,),
    "meta": ("meta-app-secret-0123456789abcdef", "verify_token=meta-verify-token"),
    "postmark": (BASIC,),
    "resend": (WHSEC,),
    "adyen": (ADYEN_KEY,),
    "freshdesk": (BASIC,),
    "plaid": (PLAID_PRIVATE,),
    "paypal": (PAYPAL_LEAF.key_pem, "webhook_id=1JE4291016473214C"),
}
VERIFY_WITH: dict[str, tuple[str, ...]] = {"plaid": (PLAID_PUBLIC,), "paypal": PAYPAL_CHECKS}


def _sample(name: str) -> Sample:
    made = samples.sample(name)
    extra = {"secrets": SECRETS[name]} if name in SECRETS else {}
    return Sample(made.body, EXPECTED[name], made.headers, verify_with=VERIFY_WITH.get(name, ()), **extra)


SAMPLES: dict[str, Sample] = {name: _sample(name) for name in EXPECTED}
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
