from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

# stripe/stripe-dotnet src/StripeTests/Services/Events/EventUtilityTest.cs with its fixture
# src/StripeTests/Resources/event_test_signature.json (copied byte for byte into vectors/, trailing LF
# included: the published signature covers it).
FIXTURE = (Path(__file__).parent / "vectors" / "stripe_event_test_signature.json").read_bytes()
FIXTURE_SECRET = "webhook_secret"
FIXTURE_TS = 1533204620
FIXTURE_V1 = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7"
FIXTURE_HEADER = f"t={FIXTURE_TS},v1={FIXTURE_V1},v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef"

SECRET = "whsec_test_secret"
NOW = 1_700_000_000


def v1(body: bytes, *, secret: str, now: int) -> str:
    # The endpoint secret is the key as UTF-8, whsec_ prefix and all: Stripe does not base64-decode it.
    return hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secret: str = SECRET, now: int = NOW) -> dict[str, str]:
    """The Stripe-Signature header Stripe would send for ``body`` signed at ``now``."""
    return verifiers.sign("stripe", secrets=[secret], body=body, now=now)


def _verify(headers: dict[str, str], body: bytes, *, secrets: list[str] | None = None, now: float = NOW) -> None:
    verifiers.verify("stripe", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body, now=now)


def test_fixture_is_the_published_bytes() -> None:
    assert len(FIXTURE) == 484
    assert FIXTURE.endswith(b"}\n")


def test_stripe_dotnet_vector() -> None:
    # EventUtilityTest.ConstructEvent checks at t + 100 with a 300 s tolerance.
    headers = {"Stripe-Signature": FIXTURE_HEADER}
    verifiers.verify("stripe", secrets=[FIXTURE_SECRET], headers=headers, body=FIXTURE, now=FIXTURE_TS + 100)
    assert sign(FIXTURE, secret=FIXTURE_SECRET, now=FIXTURE_TS)["stripe-signature"].endswith(FIXTURE_V1)


def test_stripe_dotnet_vector_without_trailing_newline_fails() -> None:
    with pytest.raises(SignatureMismatch):
        verifiers.verify(
            "stripe",
            secrets=[FIXTURE_SECRET],
            headers={"stripe-signature": FIXTURE_HEADER},
            body=FIXTURE.rstrip(b"\n"),
            now=FIXTURE_TS,
        )


@pytest.mark.parametrize("position", ["first", "last"])
def test_any_of_several_v1_signatures_passes(position: str) -> None:
    # Derived from the stripe-dotnet vector: while a rolled secret overlaps, Stripe sends one v1 per secret.
    other = f"v1={v1(FIXTURE, secret='whsec_rolled', now=FIXTURE_TS)}"
    mine = f"v1={FIXTURE_V1}"
    entries = [mine, other] if position == "first" else [other, mine]
    header = f"t={FIXTURE_TS}," + ",".join(entries)
    verifiers.verify(
        "stripe", secrets=[FIXTURE_SECRET], headers={"stripe-signature": header}, body=FIXTURE, now=FIXTURE_TS
    )


BODY = b'{"id":"evt_1","object":"event","type":"invoice.paid","account":"acct_1"}'


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["whsec_other"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        # Stripe's SDKs accept future timestamps; we close that side of the window too.
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param({}, BODY, [SECRET], NOW, MissingHeader, id="missing-header"),
        pytest.param({"stripe-signature": "garbage"}, BODY, [SECRET], NOW, MalformedHeader, id="garbled"),
        pytest.param(
            {"stripe-signature": f"v1={v1(BODY, secret=SECRET, now=NOW)}"},
            BODY,
            [SECRET],
            NOW,
            MalformedHeader,
            id="no-timestamp",
        ),
        pytest.param(
            {"stripe-signature": f"t=soon,v1={v1(BODY, secret=SECRET, now=NOW)}"},
            BODY,
            [SECRET],
            NOW,
            MalformedHeader,
            id="garbled-timestamp",
        ),
        pytest.param(
            {"stripe-signature": f"t={NOW},v0={v1(BODY, secret=SECRET, now=NOW)}"},
            BODY,
            [SECRET],
            NOW,
            UnsupportedVersion,
            id="v0-only",
        ),
        pytest.param(
            {"stripe-signature": f"t={NOW},v1=zz,v1="}, BODY, [SECRET], NOW, SignatureMismatch, id="garbled-v1"
        ),
        pytest.param(
            # The t= must be the signed one: a signature moved under another timestamp fails.
            {"stripe-signature": f"t={NOW + 1},v1={v1(BODY, secret=SECRET, now=NOW)}"},
            BODY,
            [SECRET],
            NOW,
            SignatureMismatch,
            id="timestamp-swapped",
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(sign(BODY, secret="whsec_old"), BODY, secrets=["whsec_new", "whsec_old"])


def test_spaces_after_commas_are_tolerated() -> None:
    header = f"t={NOW}, v1={v1(BODY, secret=SECRET, now=NOW)}"
    _verify({"stripe-signature": header}, BODY)


def test_no_handshake() -> None:
    assert verifiers.handshake("stripe", secrets=[SECRET], headers=sign(BODY), body=BODY, now=NOW) is None


# --- extract ---------------------------------------------------------------------------------


def test_extract_connect_event_from_fixture() -> None:
    [info] = verifiers.extract("stripe", headers={"stripe-signature": FIXTURE_HEADER}, body=FIXTURE)
    assert info == verifiers.EventInfo("acct_123", "customer.created", "evt_123")


def test_extract_platform_event_has_no_tenant() -> None:
    body = json.dumps({"id": "evt_2", "object": "event", "type": "charge.succeeded"}).encode()
    [info] = verifiers.extract("stripe", headers=sign(body), body=body)
    assert info == verifiers.EventInfo("", "charge.succeeded", "evt_2")


def test_extract_thin_event_uses_context() -> None:
    body = json.dumps(
        {
            "id": "evt_test_65R",
            "object": "v2.core.event",
            "type": "v1.billing.meter.error_report_triggered",
            "context": "acct_9",
            "related_object": {"id": "mtr_1", "type": "billing.meter"},
        }
    ).encode()
    [info] = verifiers.extract("stripe", headers=sign(body), body=body)
    assert info == verifiers.EventInfo("acct_9", "v1.billing.meter.error_report_triggered", "evt_test_65R")


@pytest.mark.parametrize("body", [b"", b"\xff", b"[]", b'{"account":{"id":"acct_1"},"type":7}'])
def test_extract_never_raises_on_odd_bodies(body: bytes) -> None:
    [info] = verifiers.extract("stripe", headers={}, body=body)
    assert info.provider_id == ""


# --- contract --------------------------------------------------------------------------------

HEADER_PARTS = st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(["t", "v1", "v0", ""]), st.text(max_size=70)),
    st.just(f"t={NOW}"),
)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), parts=st.lists(HEADER_PARTS, max_size=4), secret=st.text(max_size=20))
def test_raises_only_verification_errors(body: bytes, parts: list[str], secret: str) -> None:
    headers = {"stripe-signature": ",".join(parts)}
    with contextlib.suppress(VerificationError):
        verifiers.verify("stripe", secrets=[secret], headers=headers, body=body, now=NOW)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("stripe", secrets=[secret], headers=headers, body=body, now=NOW)
    assert verifiers.extract("stripe", headers=headers, body=body)
