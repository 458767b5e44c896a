"""The public verifier contract, checked for every registered provider.

Whatever arrives (bytes, header values, method, URL, secrets), ``verify`` and ``handshake`` raise
nothing but ``VerificationError`` and ``extract`` raises nothing at all. Parametrised over
``verifiers.providers()``, so a provider module added later is covered without touching this file.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

import verifiers
from tests.verifiers import test_github, test_slack, test_standard_webhooks, test_stripe
from verifiers import EventInfo, HandshakeReply, MissingSecret, UnknownProvider, VerificationError
from verifiers._core import lookup

NOW = 1_700_000_000

# Every header name that /work/shared/reference/provider-signatures.md mentions, lower-cased. Fixed
# on purpose: the fuzzer needs no knowledge of any one provider, and a provider whose headers are
# here gets its deep paths (timestamp parse, signature decode, ...) exercised, not just MissingHeader.
HEADER_NAMES = (
    "authorization",
    "box-delivery-id",
    "box-delivery-timestamp",
    "box-signature-algorithm",
    "box-signature-primary",
    "box-signature-secondary",
    "box-signature-version",
    "calendly-webhook-signature",
    "circleci-signature",
    "close-sig-hash",
    "close-sig-timestamp",
    "content-type",
    "idempotency-key",
    "intuit-signature",
    "linear-delivery",
    "linear-event",
    "linear-signature",
    "mux-signature",
    "outreach-webhook-signature",
    "paypal-auth-algo",
    "paypal-cert-url",
    "paypal-transmission-id",
    "paypal-transmission-sig",
    "paypal-transmission-time",
    "persona-signature",
    "plaid-verification",
    "sanity-operation",
    "sanity-project-id",
    "sanity-webhook-signature",
    "sentry-hook-request-id",
    "sentry-hook-resource",
    "sentry-hook-signature",
    "shopify-hmac-sha256",
    "shopify-shop-domain",
    "shopify-topic",
    "shopify-webhook-id",
    "signature",
    "smartsheet-hmac-sha256",
    "smartsheet-hook-challenge",
    "stripe-signature",
    "svix-id",
    "svix-signature",
    "svix-timestamp",
    "twitch-eventsub-message-id",
    "twitch-eventsub-message-signature",
    "twitch-eventsub-message-timestamp",
    "twitch-eventsub-message-type",
    "typeform-signature",
    "webhook-id",
    "webhook-signature",
    "webhook-timestamp",
    "workos-signature",
    "x-airtable-content-mac",
    "x-atlassian-webhook-identifier",
    "x-atlassian-webhook-retry",
    "x-authorization-digest",
    "x-buildkite-event",
    "x-buildkite-request",
    "x-buildkite-signature",
    "x-cio-signature",
    "x-cio-timestamp",
    "x-contentful-signature",
    "x-contentful-signed-headers",
    "x-contentful-timestamp",
    "x-contentful-topic",
    "x-docusign-signature-1",
    "x-docusign-signature-2",
    "x-dropbox-signature",
    "x-event-key",
    "x-front-challenge",
    "x-front-request-timestamp",
    "x-front-signature",
    "x-github-delivery",
    "x-github-event",
    "x-github-hook-id",
    "x-github-hook-installation-target-id",
    "x-github-hook-installation-target-type",
    "x-gitlab-event-uuid",
    "x-gitlab-token",
    "x-helpscout-event",
    "x-helpscout-signature",
    "x-hook-secret",
    "x-hook-signature",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-hubspot-request-timestamp",
    "x-hubspot-signature",
    "x-hubspot-signature-v3",
    "x-hubspot-signature-version",
    "x-ld-signature",
    "x-line-signature",
    "x-mandrill-signature",
    "x-mollie-signature",
    "x-netlify-event",
    "x-notion-signature",
    "x-npm-signature",
    "x-okta-verification-challenge",
    "x-pagerduty-signature",
    "x-razorpay-event-id",
    "x-razorpay-signature",
    "x-request-uuid",
    "x-salesloft-event",
    "x-salesloft-signature",
    "x-sha2-signature",
    "x-shopify-api-version",
    "x-shopify-event-id",
    "x-shopify-hmac-sha256",
    "x-shopify-shop-domain",
    "x-shopify-topic",
    "x-shopify-triggered-at",
    "x-shopify-webhook-id",
    "x-signature",
    "x-signature-ed25519",
    "x-signature-timestamp",
    "x-slack-request-timestamp",
    "x-slack-retry-num",
    "x-slack-retry-reason",
    "x-slack-signature",
    "x-square-hmacsha256-signature",
    "x-telegram-bot-api-secret-token",
    "x-todoist-delivery-id",
    "x-todoist-hmac-sha256",
    "x-trello-webhook",
    "x-twilio-signature",
    "x-vercel-signature",
    "x-webflow-signature",
    "x-webflow-timestamp",
    "x-webhook-signature",
    "x-webhook-subscription",
    "x-xero-signature",
    "x-zendesk-account-id",
    "x-zendesk-webhook-id",
    "x-zendesk-webhook-invocation-id",
    "x-zendesk-webhook-signature",
    "x-zendesk-webhook-signature-timestamp",
    "x-zm-request-timestamp",
    "x-zm-signature",
)

# Values shaped like real ones reach past the first parse; st.text() covers everything else.
PLAUSIBLE_VALUES = (
    str(NOW),
    str(NOW * 1000),
    "2023-11-14T22:13:20Z",
    "2023-11-14T22:13:20+00:00",
    "1",
    "v1",
    "HmacSHA256",
    "ping",
    "application/json",
    "application/x-www-form-urlencoded",
    "webhook_callback_verification",
    "2023-11-14T22:13:20.123456789Z",
)
VALUE_PREFIXES = (
    *("v0=", "v1,", "v1a,", "v1=", "sha256=", "sha1=", "sha256 ", "hmac-sha256=", "Bearer ", "JWT ", "Basic "),
    *(f"t={NOW},v1=", f"t={NOW * 1000},v1=", f"timestamp={NOW},signature="),
)


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# JWT-shaped values (header.claims.signature) so JWT schemes get past splitting and decoding.
JWT_HEADER = _b64url(b'{"alg":"HS256","typ":"JWT"}')
JWT_LIKE = tuple(
    f"{JWT_HEADER}.{_b64url(json.dumps(claims).encode())}.{_b64url(b'sig')}"
    for claims in ({}, {"exp": NOW + 60, "iat": NOW}, {"exp": "soon", "aud": ["x"]}, {"qsh": 1, "iss": None})
)
# Strategies are kept flat and small: the suite runs them ~100 times for each of dozens of providers.
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from([str(NOW), str(NOW * 1000)]),  # a timestamp inside every window, so the signature is reached
    st.sampled_from(PLAUSIBLE_VALUES + JWT_LIKE),
    st.tuples(st.sampled_from(VALUE_PREFIXES + ("Bearer " + JWT_LIKE[1],)), st.text(max_size=80)).map("".join),
)


@functools.cache
def _names_read_by(provider: str) -> tuple[str, ...]:
    """Names from HEADER_NAMES the provider's module mentions, found from its source text, not hand-listed.

    A name counts when it appears as a whole token (code or docstring), or when the module holds a
    quoted prefix of it such as ``"svix-"`` (schemes that build names from a prefix).
    """
    source = inspect.getsource(sys.modules[lookup(provider).verify.__module__]).lower()
    prefixes = {p for p in re.findall(r"[\"']([a-z0-9-]{3,}-)[\"']", source) if p != "x-"}
    return tuple(
        name
        for name in HEADER_NAMES
        if re.search(rf"(?<![a-z0-9-]){re.escape(name)}(?![a-z0-9-])", source) or name.startswith(tuple(prefixes))
    )


@functools.cache
def headers_for(provider: str) -> st.SearchStrategy[dict[str, str]]:
    # The provider's own names are usually present (absent in about one draw in four, so MissingHeader is
    # not all the fuzzer ever sees); a few others from the broad list ride along.
    present_or_not = st.one_of(HEADER_VALUES, HEADER_VALUES, HEADER_VALUES, st.none())
    own = st.fixed_dictionaries(dict.fromkeys(_names_read_by(provider), present_or_not))
    others = st.dictionaries(st.sampled_from(HEADER_NAMES), HEADER_VALUES, max_size=3)
    return st.builds(lambda a, b: {**b, **{k: v for k, v in a.items() if v is not None}}, own, others)


JSON_KEYS = (
    "type", "challenge", "token", "event", "event_id", "team_id", "payload", "validationToken", "value",
    "events", "data", "id", "account", "plainToken", "portalId", "eventType", "webhook", "resource",
    "action", "installation", "subscriptionId", "clientState", "tenantId", "triggeredAt", "signature",
    "object", "validationTokens", "encryptedContent", "verification_token", "payload_json",
)  # fmt: skip
JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
JSON_OBJECTS = st.dictionaries(
    st.sampled_from(JSON_KEYS),
    JSON_SCALARS | st.lists(JSON_SCALARS, max_size=2) | st.dictionaries(st.sampled_from(JSON_KEYS), JSON_SCALARS),
    max_size=4,
)
BODIES = st.one_of(
    st.binary(max_size=512),
    JSON_OBJECTS.map(lambda obj: json.dumps(obj).encode()),
    st.lists(JSON_OBJECTS, max_size=2).map(lambda items: json.dumps(items).encode()),  # batched deliveries
    st.dictionaries(st.sampled_from(JSON_KEYS), st.text(max_size=40), max_size=4).map(
        lambda fields: urlencode(fields).encode()
    ),
)
URLS = st.one_of(
    st.text(max_size=100),
    st.builds(lambda query: "https://hooks.example.com/webhook?" + query, st.text(max_size=60)),
    st.sampled_from(
        [
            "https://hooks.example.com/webhook?validationToken=Validation%3A%20Testing",
            "https://hooks.example.com/webhook?challenge=abc123",
            "https://hooks.example.com/webhook?id=cred_1",
        ]
    ),
)
SECRETS = st.lists(
    st.one_of(
        st.text(max_size=40),
        st.sampled_from([test_standard_webhooks.SECRET, test_standard_webhooks.PUBLIC, "ab" * 32]),
    ),
    min_size=1,  # no secret at all is one fixed case (test_no_secret_is_missing_secret), not a third of the runs
    max_size=3,
)
METHODS = st.sampled_from(["GET", "POST", "HEAD"])


def _check_reply(reply: HandshakeReply | None) -> None:
    if reply is not None:
        assert isinstance(reply.status, int)
        assert isinstance(reply.body, bytes)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in reply.headers.items())


def _check_events(events: list[EventInfo]) -> None:
    assert events, "extract returns at least one EventInfo"
    for info in events:
        assert isinstance(info.provider_id, str)
        assert isinstance(info.event_type, str)
        assert isinstance(info.delivery_id, str)
        assert info.body is None or isinstance(info.body, bytes)


@pytest.mark.parametrize("provider", verifiers.providers())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), body=BODIES, method=METHODS, url=URLS, secrets=SECRETS)
def test_only_verification_errors_escape(
    provider: str, data: st.DataObject, body: bytes, method: str, url: str, secrets: list[str]
) -> None:
    headers = data.draw(headers_for(provider), label="headers")
    request: dict[str, Any] = {"headers": headers, "body": body, "method": method, "url": url}
    with contextlib.suppress(VerificationError):
        verifiers.verify(provider, secrets=secrets, now=NOW, **request)
    with contextlib.suppress(VerificationError):
        _check_reply(verifiers.handshake(provider, secrets=secrets, now=NOW, **request))
    _check_events(verifiers.extract(provider, **request))  # extract never raises, not even VerificationError


# --- header names are matched case-insensitively -------------------------------------------------

BODY = b'{"type":"event_callback","team_id":"T1","event":{"type":"message"},"event_id":"Ev1"}'


def _signed(provider: str) -> tuple[dict[str, str], str]:
    """A valid request for one of the core providers: (headers, secret)."""
    if provider == "slack":
        return test_slack.sign(BODY, now=NOW), test_slack.SECRET
    if provider == "github":
        return test_github.sign(BODY), test_github.SECRET
    if provider == "stripe":
        return test_stripe.sign(BODY, now=NOW), test_stripe.SECRET
    if provider == "svix":
        return test_standard_webhooks.sign(BODY, now=NOW, prefix="svix-"), test_standard_webhooks.SECRET
    return test_standard_webhooks.sign(BODY, now=NOW), test_standard_webhooks.SECRET


CORE = ["slack", "github", "stripe", "standard_webhooks", "svix"]


def _mixed(name: str) -> str:
    return "-".join(part.capitalize() for part in name.split("-"))


class MultiHeaders(Mapping[str, str]):
    """A Starlette-like header mapping: raw pairs in arrival order, names repeated, lookups case-insensitive."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._pairs = list(pairs)

    def __getitem__(self, key: str) -> str:
        for name, value in self._pairs:
            if name.lower() == key.lower():
                return value
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, _ in self._pairs])

    def __len__(self) -> int:
        return len(self._pairs)


@pytest.mark.parametrize("provider", CORE)
@pytest.mark.parametrize("case", [str.lower, str.upper, _mixed], ids=["lower", "upper", "mixed"])
def test_header_names_are_case_insensitive(provider: str, case: Callable[[str], str]) -> None:
    headers, secret = _signed(provider)
    cased = {case(name): value for name, value in headers.items()}
    verifiers.verify(provider, secrets=[secret], headers=cased, body=BODY, now=NOW)


@pytest.mark.parametrize("provider", CORE)
def test_multi_mapping_first_value_wins(provider: str) -> None:
    headers, secret = _signed(provider)
    pairs = [(_mixed(name), value) for name, value in headers.items()]
    # A repeated header after the real one must not displace it (Starlette's Headers.get is first-wins).
    pairs += [(name.upper(), "bogus") for name in headers]
    verifiers.verify(provider, secrets=[secret], headers=MultiHeaders(pairs), body=BODY, now=NOW)


@pytest.mark.parametrize("provider", CORE)
def test_starlette_headers(provider: str) -> None:
    headers, secret = _signed(provider)
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
    raw += [(b"x-forwarded-for", b"203.0.113.9"), *((name, b"bogus") for name, _ in raw)]
    verifiers.verify(provider, secrets=[secret], headers=Headers(raw=raw), body=BODY, now=NOW)


# --- registry and secrets -------------------------------------------------------------------------


def test_unknown_provider() -> None:
    with pytest.raises(UnknownProvider) as info:
        verifiers.verify("nope", secrets=["s"], headers={}, body=b"")
    assert info.value.reason == "unknown_provider"
    with pytest.raises(UnknownProvider):
        verifiers.handshake("nope", secrets=["s"], headers={}, body=b"")
    with pytest.raises(UnknownProvider):
        verifiers.extract("nope", headers={}, body=b"")


def test_providers_lists_the_core_and_aliases() -> None:
    assert set(CORE) <= set(verifiers.providers())
    assert verifiers.providers() == sorted(verifiers.providers())


@pytest.mark.parametrize("provider", CORE)
@pytest.mark.parametrize("secrets", [[], [""]], ids=["none", "empty-string"])
def test_no_secret_is_missing_secret(provider: str, secrets: list[str]) -> None:
    headers, _ = _signed(provider)
    with pytest.raises(MissingSecret) as info:
        verifiers.verify(provider, secrets=secrets, headers=headers, body=BODY, now=NOW)
    assert info.value.reason == "missing_secret"
