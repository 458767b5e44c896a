"""``verifiers.sign``: for every signable provider, what it signs verifies, and one changed byte does not.

Parametrised over ``verifiers.signable()``, so a provider module that adds a signer is covered here without
touching this file; ``KEYS``, ``BODIES`` and ``UNSIGNED_BODY`` name only the exceptions.
"""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

import verifiers
from tests.verifiers.catalog_samples import SAMPLES
from verifiers import NotSignable, Signed, VerificationError

NOW = 1_700_000_000
URL = "https://hooks.example.com/webhook/triggers/connect/{provider}/int_1?id=cred_1"


def _pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


_ED = ed25519.Ed25519PrivateKey.generate()
_EC = ec.generate_private_key(ec.SECP256R1())
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)

# (secrets to sign with, secrets to verify with) where they differ from one shared secret.
_WHSEC = ["whsec_" + base64.b64encode(b"k" * 24).decode()]
_BASIC = ["hooks:pass-word"]
KEYS: dict[str, tuple[list[str], list[str]]] = {
    "discord": ([_pem(_ED)], [_public_pem(_ED)]),
    "sendgrid": ([_pem(_EC)], [_public_pem(_EC)]),
    "gong": ([_pem(_RSA)], [_public_pem(_RSA)]),
    "gmail": (
        [_pem(_RSA), "email=push@example.iam.gserviceaccount.com"],
        [_public_pem(_RSA), "email=push@example.iam.gserviceaccount.com"],
    ),
    "close": (["a1" * 32], ["a1" * 32]),
    "adyen": (["ab" * 32], ["ab" * 32]),
    "paypal": (list(SAMPLES["paypal"].secrets), list(SAMPLES["paypal"].checks)),
    "plaid": ([_pem(_EC)], [_public_pem(_EC)]),
    "airtable": ([base64.b64encode(b"airtable-mac-secret").decode()],) * 2,
    **dict.fromkeys(["pipedrive", "azure_devops", "postmark", "freshdesk"], (_BASIC, _BASIC)),
    **dict.fromkeys(["standard_webhooks", "svix", "clerk", "resend"], (_WHSEC, _WHSEC)),
}
GRAPH_BODY = json.dumps({"value": [{"subscriptionId": "s1", "changeType": "created", "tenantId": "t1"}]}).encode()
FORM_BODY = urlencode({"type": "subscribe", "data[list_id]": "L1", "data[email]": "a@example.com"}).encode()
BODIES: dict[str, bytes] = {
    "microsoft_graph": GRAPH_BODY,
    "dynamicsbusinesscentral": GRAPH_BODY,
    "mailchimp": FORM_BODY,
    "adyen": json.dumps(
        {"notificationItems": [{"NotificationRequestItem": {"pspReference": "p1", "eventCode": "AUTHORISATION"}}]}
    ).encode(),
    "twilio": urlencode({"AccountSid": "AC1", "CallStatus": "ringing"}).encode(),
    "mandrill": urlencode({"mandrill_events": '[{"event":"send","_id":"m1"}]'}).encode(),
}
# Schemes whose signature does not cover the body bytes: the credential travels beside it (a URL secret,
# Basic auth, a JWT over its own claims, Graph's clientState, Lever's token fields).
UNSIGNED_BODY = {
    *("mailchimp", "miro", "monday", "pipedrive", "lever", "gmail", "figma"),
    *("gitlab", "gorgias", "telegram", "okta", "azure_devops", "postmark", "freshdesk", "mailgun", "adyen"),
}
GRAPH = {"microsoft_graph", "onedrive", "outlook", "microsoft-teams", "sharepoint", "dynamicsbusinesscentral"}


def _secrets(provider: str) -> tuple[list[str], list[str]]:
    return KEYS.get(provider, ([f"{provider}-secret-0123456789abcdef0123"],) * 2)


def _body(provider: str) -> bytes:
    if provider in GRAPH:
        return BODIES["microsoft_graph"]
    return BODIES.get(provider, json.dumps({"type": "thing.created", "id": "evt_1", "data": {"x": 1}}).encode())


def _signed(provider: str) -> Signed:
    secrets, _ = _secrets(provider)
    return verifiers.sign_request(
        provider, secrets=secrets, body=_body(provider), url=URL.format(provider=provider), now=NOW
    )


def _verify(provider: str, signed: Signed) -> None:
    _, secrets = _secrets(provider)
    verifiers.verify(provider, secrets=secrets, headers=signed.headers, body=signed.body, url=signed.url, now=NOW)


def _flip(text: str) -> str:
    """One character changed in the middle (digits and letters stay what they are, so formats still parse)."""
    for i in [*range(len(text) // 2, len(text)), *range(len(text) // 2)]:
        char = text[i]
        if char.isdigit():
            return text[:i] + str((int(char) + 1) % 10) + text[i + 1 :]
        if char.isalpha() and char.isascii():
            swapped = "b" if char.lower() == "a" else "a"
            return text[:i] + (swapped.upper() if char.isupper() else swapped) + text[i + 1 :]
    raise AssertionError(f"nothing to flip in {text!r}")


def _credential(provider: str, signed: Signed) -> Signed:
    """``signed`` with one byte of its credential changed, wherever the scheme carries it."""
    if provider in ("mailchimp", "miro", "pandadoc") or (provider == "gmail" and "token=" in signed.url):
        return replace(signed, url=_flip(signed.url.rsplit("=", 1)[1]).join([signed.url.rsplit("=", 1)[0] + "=", ""]))
    if provider in GRAPH:
        return replace(signed, body=signed.body.replace(b'"clientState": "', b'"clientState": "x'))
    if provider in ("lever", "figma"):
        field = "signature" if provider == "lever" else "passcode"
        data = json.loads(signed.body)
        return replace(signed, body=json.dumps({**data, field: _flip(data[field])}).encode())
    if provider in ("mailgun", "adyen"):
        marker = b'"signature": "' if provider == "mailgun" else b'"hmacSignature": "'
        start = signed.body.index(marker) + len(marker)
        flipped = _flip(signed.body[start : start + 8].decode()).encode()
        return replace(signed, body=signed.body[:start] + flipped + signed.body[start + 8 :])
    added = [name for name in signed.headers if name not in ("content-type",)]
    name = max(added, key=lambda n: len(signed.headers[n]))  # the signature is the longest value sent
    return replace(signed, headers={**signed.headers, name: _flip(signed.headers[name])})


def test_every_provider_is_signable() -> None:
    assert set(verifiers.signable()) == set(verifiers.providers())


@pytest.mark.parametrize("provider", verifiers.signable())
def test_signed_request_verifies(provider: str) -> None:
    _verify(provider, _signed(provider))


@pytest.mark.parametrize("provider", verifiers.signable())
def test_one_changed_byte_of_the_credential_fails(provider: str) -> None:
    with pytest.raises(VerificationError):
        _verify(provider, _credential(provider, _signed(provider)))


@pytest.mark.parametrize("provider", [p for p in verifiers.signable() if p not in UNSIGNED_BODY | GRAPH])
def test_one_changed_byte_of_the_body_fails(provider: str) -> None:
    signed = _signed(provider)
    middle = len(signed.body) // 2
    changed = (
        signed.body[:middle] + (b"0" if signed.body[middle : middle + 1] != b"0" else b"1") + signed.body[middle + 1 :]
    )
    with pytest.raises(VerificationError):
        _verify(provider, replace(signed, body=changed))


@pytest.mark.parametrize("provider", verifiers.signable())
def test_signing_is_pure(provider: str) -> None:
    assert _signed(provider) == _signed(provider)


def test_sign_returns_the_given_headers_with_the_signature() -> None:
    headers = verifiers.sign(
        "github",
        secrets=["s"],
        body=b"{}",
        now=NOW,
        headers={"Content-Type": "application/json", "X-GitHub-Event": "issues"},
    )
    assert headers["Content-Type"] == "application/json"
    assert headers["x-github-event"] == "issues"
    assert "X-GitHub-Event" not in headers


def test_sign_refuses_a_scheme_that_changes_the_body() -> None:
    with pytest.raises(NotSignable, match="sign_request"):
        verifiers.sign("lever", secrets=["s"], body=b"{}", now=NOW)


@pytest.mark.parametrize(
    ("provider", "secrets", "url"),
    [
        ("discord", ["ab" * 32 + "zz"], ""),  # not a key
        ("sendgrid", [_public_pem(_EC)], ""),  # a public key verifies, it cannot sign
        ("gong", [_pem(_EC)], URL),  # the wrong kind of key
        ("standard_webhooks", ["whpk_" + base64.b64encode(b"k" * 32).decode()], ""),
        ("hubspot", ["s"], ""),  # signs the URL, and none given
        ("close", ["not hex"], ""),
        ("pipedrive", ["no-colon"], ""),
        ("github", [], ""),
        ("github", [""], ""),
    ],
)
def test_not_signable(provider: str, secrets: list[str], url: str) -> None:
    with pytest.raises(NotSignable):
        verifiers.sign_request(provider, secrets=secrets, body=b"{}", url=url, now=NOW)


def test_unknown_scheme_is_not_signable() -> None:
    with pytest.raises(NotSignable):
        verifiers.sign("hubspot", secrets=["s"], body=b"{}", url=URL, now=NOW, scheme="v9")


@pytest.mark.parametrize("scheme", ["v1", "v2", "v3"])
def test_hubspot_schemes(scheme: str) -> None:
    url = URL.format(provider="hubspot")
    headers = verifiers.sign("hubspot", secrets=["s"], body=b"[]", url=url, now=NOW, scheme=scheme)
    verifiers.verify("hubspot", secrets=["s"], headers=headers, body=b"[]", url=url, now=NOW)


def test_jira_connect_jwt_binds_method_and_url() -> None:
    url = URL.format(provider="jira")
    headers = verifiers.sign(
        "jira", secrets=["shared-secret-0123456789abcdef01"], body=b"{}", url=url, now=NOW, scheme="connect"
    )
    assert headers["authorization"].startswith("JWT ")
    verifiers.verify(
        "jira", secrets=["shared-secret-0123456789abcdef01"], headers=headers, body=b"{}", url=url, now=NOW
    )
    with pytest.raises(VerificationError):
        verifiers.verify(
            "jira", secrets=["shared-secret-0123456789abcdef01"], headers=headers, body=b"{}", url=url + "&x=1", now=NOW
        )


def test_twilio_json_body_pins_its_hash_in_the_url() -> None:
    url = URL.format(provider="twilio")
    signed = verifiers.sign_request("twilio", secrets=["t"], body=b'{"a":1}', url=url, now=NOW, scheme="sha256")
    assert "bodySHA256=" in signed.url
    verifiers.verify("twilio", secrets=["t"], headers=signed.headers, body=signed.body, url=signed.url, now=NOW)


def test_gmail_url_token() -> None:
    signed = verifiers.sign_request("gmail", secrets=["token=abc123"], body=b"{}", url=URL.format(provider="gmail"))
    assert signed.url.endswith("&token=abc123")
    verifiers.verify("gmail", secrets=["token=abc123"], headers=signed.headers, body=b"{}", url=signed.url)


@pytest.mark.parametrize("provider", ["stripe", "slack", "standard_webhooks", "discord"])
def test_stale_and_future_signatures_fail(provider: str) -> None:
    secrets, verify_with = _secrets(provider)
    for skew in (-3600, 3600):
        headers = verifiers.sign(provider, secrets=secrets, body=b"{}", now=NOW + skew)
        with pytest.raises(verifiers.TimestampOutOfRange):
            verifiers.verify(provider, secrets=verify_with, headers=headers, body=b"{}", now=NOW)
