"""Fetching the certificate a PayPal signature names: only PayPal's https hosts, bounded, cached, fail closed.

The client's transport is the unit seam here (``httpx.MockTransport``); that the client is the egress-guarded
one is the app's wiring (``router/app.py``), and the guarded client has its own tests.
"""

from __future__ import annotations

import httpx
import pytest

import verifiers
from router.ingress.certificates import FAILURE_TTL_S, MAX_BYTES, MAX_ENTRIES, ProviderCertificates
from tests.clock import Clock
from tests.verifiers.catalog_samples import PAYPAL_INTERMEDIATE, PAYPAL_LEAF, PAYPAL_ROOT, SAMPLES

pytestmark = pytest.mark.anyio
URL = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
CHAIN = PAYPAL_LEAF.cert_pem + PAYPAL_INTERMEDIATE.cert_pem


def fetcher(handler: httpx.MockTransport, clock: Clock | None = None) -> ProviderCertificates:
    return ProviderCertificates(httpx.AsyncClient(transport=handler), clock=clock or Clock(1000.0))


def serving(body: str | bytes, status: int = 200) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(status, content=body.encode() if isinstance(body, str) else body)

    return httpx.MockTransport(handle), seen


async def test_the_fetched_chain_lets_the_verifier_check_the_signature() -> None:
    transport, seen = serving(CHAIN)
    sample = SAMPLES["paypal"]
    signed = verifiers.sign("paypal", secrets=sample.secrets, body=sample.body, headers={"paypal-cert-url": URL})
    fetched = await fetcher(transport).secrets_for("paypal", signed)
    assert seen == [URL] and fetched == ["cert=" + CHAIN]
    configured = ["webhook_id=1JE4291016473214C", PAYPAL_ROOT.cert_pem]
    verifiers.verify("paypal", secrets=configured + fetched, headers=signed, body=sample.body)


async def test_answers_are_cached() -> None:
    transport, seen = serving(CHAIN)
    certificates = fetcher(transport)
    for _ in range(3):
        assert await certificates.secrets_for("paypal", {"paypal-cert-url": URL}) == ["cert=" + CHAIN]
    assert seen == [URL]


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/cert.pem",
        "http://api.paypal.com/cert.pem",
        "https://api.paypal.com:8443/cert.pem",
        "https://user@api.paypal.com/cert.pem",
        "https://api.paypal.com.evil.example.com/cert.pem",
        "https://[::1/cert",
        "",
    ],
)
async def test_only_paypal_https_urls_are_fetched(url: str) -> None:
    transport, seen = serving(CHAIN)
    assert await fetcher(transport).secrets_for("paypal", {"paypal-cert-url": url}) == []
    assert seen == []


async def test_other_providers_fetch_nothing() -> None:
    transport, seen = serving(CHAIN)
    assert await fetcher(transport).secrets_for("stripe", {"paypal-cert-url": URL}) == []
    assert seen == []


@pytest.mark.parametrize(
    "body,status",
    [(CHAIN, 404), ("not a certificate", 200), (b"-----BEGIN CERTIFICATE-----" + b"A" * MAX_BYTES, 200)],
    ids=["refused", "not-pem", "too-large"],
)
async def test_a_bad_answer_is_nothing_and_is_remembered_for_a_minute(body: str | bytes, status: int) -> None:
    transport, seen = serving(body, status)
    clock = Clock(1000.0)
    certificates = fetcher(transport, clock)
    assert await certificates.secrets_for("paypal", {"paypal-cert-url": URL}) == []
    assert await certificates.secrets_for("paypal", {"paypal-cert-url": URL}) == []
    assert len(seen) == 1  # a stream of forged requests costs one fetch a minute
    clock.now += FAILURE_TTL_S + 1
    await certificates.secrets_for("paypal", {"paypal-cert-url": URL})
    assert len(seen) == 2


async def test_a_frozen_host_is_nothing() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("frozen", request=request)

    assert await fetcher(httpx.MockTransport(handle)).secrets_for("paypal", {"paypal-cert-url": URL}) == []


async def test_the_cache_is_bounded() -> None:
    transport, seen = serving(CHAIN)
    certificates = fetcher(transport)
    for n in range(MAX_ENTRIES + 8):
        await certificates.fetch(f"{URL}-{n}")
    await certificates.fetch(f"{URL}-0")  # the oldest was evicted: fetched again
    assert len(seen) == MAX_ENTRIES + 9
