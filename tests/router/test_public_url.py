"""URL-signing schemes see the configured public URL and the raw path, never the request's Host.

A Twilio signature, a HubSpot v3 signature or a Pub/Sub token made for another host must not verify here
because the caller sent that host in ``Host`` or ``X-Forwarded-Host``; a path the provider was given with a
percent-escape (``tw%40e2e``) is checked as received, not decoded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import urlencode

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from router.ingress.public_url import signed_url, target
from router.storage.keys import Keys
from tests.router.conftest import ADMIN_TOKEN, Seed, make_settings, running
from tests.verifiers import test_gmail, test_hubspot

pytestmark = pytest.mark.anyio

KEYS = Keys()
TOKEN = "twilio-auth-token"
SHARED_KEY = "twilio-shared-key-secret"
FORM = {"AccountSid": "AC0123", "MessageSid": "SM1", "MessageStatus": "delivered", "Body": "hi @ you"}
BODY = urlencode(FORM).encode()
EVIL = "https://evil.example"
SPOOFED = {"host": "evil.example", "x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}


def twilio_signature(url: str, params: dict[str, str], secret: str, digest: str = "sha1") -> str:
    """Twilio's algorithm, written out independently of verifiers.twilio: URL + sorted name+value pairs."""
    message = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), digest).digest()).decode()


def test_twilio_signature_matches_the_published_example() -> None:
    # twilio-python tests/unit/test_request_validator.py, the same vector tests/verifiers/test_twilio.py uses.
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675309",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature(url, params, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


async def seed_twilio(seed: Seed, integration_id: str = "tw-1", **extra: object) -> None:
    await seed(integration=[{"id": integration_id, "type": "twilio", "secrets": [TOKEN, SHARED_KEY], **extra}])


@pytest.mark.parametrize("public_url", ["", "http://hooks.test"], ids=["unset", "set"])
async def test_a_signature_for_another_host_does_not_pass_with_a_spoofed_host(
    redis_url: str, seed: Seed, redis: Redis, public_url: str
) -> None:
    await seed_twilio(seed)
    path = "/webhook/triggers/connect/twilio/tw-1"
    headers = {**SPOOFED, "x-twilio-signature": twilio_signature(EVIL + path, FORM, TOKEN)}
    async with running(make_settings(redis_url, public_url=public_url)) as http:
        response = await http.post(EVIL + path, content=BODY, headers=headers)
    reason = "signature_mismatch" if public_url else "missing_public_url"
    assert (response.status_code, response.json()) == (401, {"error": reason})
    assert await redis.exists(KEYS.ingest) == 0


@pytest.mark.parametrize("public_url", ["", "http://hooks.test"], ids=["unset", "set"])
async def test_a_hubspot_v3_signature_for_another_host_does_not_pass(
    redis_url: str, seed: Seed, redis: Redis, public_url: str
) -> None:
    await seed(integration=[{"id": "hs-1", "type": "hubspot", "secrets": [test_hubspot.SECRET]}])
    path = "/webhook/triggers/connect/hubspot/hs-1"
    body = b'[{"eventId":1,"portalId":62515,"subscriptionType":"contact.creation"}]'
    now = int(time.time() * 1000)
    message = b"POST" + (EVIL + path).encode() + body + str(now).encode()
    signature = base64.b64encode(hmac.new(test_hubspot.SECRET.encode(), message, hashlib.sha256).digest()).decode()
    headers = {**SPOOFED, "x-hubspot-signature-v3": signature, "x-hubspot-request-timestamp": str(now)}
    async with running(make_settings(redis_url, public_url=public_url)) as http:
        response = await http.post(EVIL + path, content=body, headers=headers)
    assert response.status_code == 401
    assert await redis.exists(KEYS.ingest) == 0


@pytest.mark.parametrize("public_url", ["", "http://hooks.test"], ids=["unset", "set"])
async def test_a_pubsub_token_for_another_audience_is_refused(
    redis_url: str, seed: Seed, redis: Redis, public_url: str
) -> None:
    """No aud= secret: the expected audience is the public URL, never the URL the request claims to be for."""
    await seed(integration=[{"id": "gm-1", "type": "gmail", "secrets": [test_gmail.PEM, f"email={test_gmail.SA}"]}])
    path = "/webhook/triggers/connect/gmail/gm-1"
    now = int(time.time())
    headers = {**SPOOFED, **test_gmail.sign(test_gmail.BODY, now=now, aud=EVIL + path)}
    async with running(make_settings(redis_url, public_url=public_url)) as http:
        response = await http.post(EVIL + path, content=test_gmail.BODY, headers=headers)
        reason = "signature_mismatch" if public_url else "missing_public_url"
        assert (response.status_code, response.json()) == (401, {"error": reason})
        if public_url:  # the same token minted for the configured URL passes
            headers = test_gmail.sign(test_gmail.BODY, now=now, aud=public_url + path)
            accepted = await http.post(path, content=test_gmail.BODY, headers=headers)
            assert accepted.status_code == 200, accepted.text
    assert await redis.xlen(KEYS.ingest) == (1 if public_url else 0)


@pytest.mark.parametrize(
    ("algorithm", "digest", "secret"),
    [(None, "sha1", TOKEN), ("HMAC_SHA1", "sha1", SHARED_KEY), ("HMAC_SHA256", "sha256", SHARED_KEY)],
)
async def test_the_raw_path_is_verified_as_received(
    redis_url: str, seed: Seed, redis: Redis, algorithm: str | None, digest: str, secret: str
) -> None:
    """Twilio was given .../tw%40e2e and signs exactly that; the decoded tw@e2e would not verify."""
    await seed_twilio(seed, "tw@e2e")
    url = "https://hooks.example.com/webhook/triggers/connect/twilio/tw%40e2e?tag=a%2Bb&at=%40"
    headers = {"x-twilio-signature": twilio_signature(url, FORM, secret, digest)}
    if algorithm:
        headers["x-twilio-webhooks-signature-settings"] = f"key=KS0123,algorithm={algorithm}"
    async with running(make_settings(redis_url, public_url="https://hooks.example.com")) as http:
        response = await http.post(url.removeprefix("https://hooks.example.com"), content=BODY, headers=headers)
    assert response.status_code == 200, response.text
    assert await redis.xlen(KEYS.ingest) == 1


async def test_an_unknown_twilio_algorithm_is_refused(redis_url: str, seed: Seed, redis: Redis) -> None:
    await seed_twilio(seed)
    path = "/webhook/triggers/connect/twilio/tw-1"
    headers = {
        "x-twilio-signature": twilio_signature("http://hooks.test" + path, FORM, SHARED_KEY, "sha512"),
        "x-twilio-webhooks-signature-settings": "key=KS0123,algorithm=HMAC_SHA512",
    }
    async with running(make_settings(redis_url)) as http:
        response = await http.post(path, content=BODY, headers=headers)
    assert (response.status_code, response.json()) == (401, {"error": "unsupported_version"})


async def test_an_integration_public_url_overrides_the_setting(redis_url: str, seed: Seed, redis: Redis) -> None:
    await seed_twilio(seed, public_url="https://twilio-hooks.example.org/prefix")
    path = "/webhook/triggers/connect/twilio/tw-1"
    own = {"x-twilio-signature": twilio_signature("https://twilio-hooks.example.org/prefix" + path, FORM, TOKEN)}
    setting = {"x-twilio-signature": twilio_signature("http://hooks.test" + path, FORM, TOKEN)}
    async with running(make_settings(redis_url, public_url="http://hooks.test")) as http:
        refused = await http.post(path, content=BODY, headers=setting)
        accepted = await http.post(path, content=BODY, headers=own)
    assert refused.status_code == 401
    assert accepted.status_code == 200, accepted.text


async def test_the_integrations_listing_shows_its_public_url(redis_url: str, seed: Seed) -> None:
    await seed_twilio(seed, public_url="https://twilio-hooks.example.org")
    async with running(make_settings(redis_url)) as http:
        listed = await http.get("/api/integrations", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    [integration] = listed.json()["data"]
    assert integration["public_url"] == "https://twilio-hooks.example.org"
    assert "secrets" not in integration


@pytest.mark.parametrize("bad", ["hooks.example.com", "ftp://hooks.example.com", "https://h.example/?a=1", "https://"])
def test_the_public_url_setting_must_be_an_absolute_base(redis_url: str, bad: str) -> None:
    with pytest.raises(ValidationError, match="public_url"):
        make_settings(redis_url, public_url=bad)


async def test_query_reading_schemes_still_work_without_a_public_url(redis_url: str, seed: Seed) -> None:
    """Dropbox's challenge is in the query, not bound to the host: no public URL is needed for it."""
    await seed(integration=[{"id": "dbx-1", "type": "dropbox", "secrets": ["dropbox-app-secret"]}])
    async with running(make_settings(redis_url, public_url="")) as http:
        response = await http.get("/webhook/triggers/connect/dropbox/dbx-1?challenge=abc%2Bdef")
    assert (response.status_code, response.text) == (200, "abc+def")


def _scope(raw_path: bytes | None, path: str, query: bytes) -> dict[str, object]:
    scope: dict[str, object] = {"type": "http", "path": path, "query_string": query, "headers": []}
    if raw_path is not None:
        scope["raw_path"] = raw_path
    return scope


@pytest.mark.parametrize(
    ("scope", "base", "url"),
    [
        (_scope(b"/a/tw%40e2e", "/a/tw@e2e", b"x=%2B1"), "https://h.example/", "https://h.example/a/tw%40e2e?x=%2B1"),
        (_scope(b"/a/b", "/a/b", b""), "https://h.example/pre", "https://h.example/pre/a/b"),
        (_scope(None, "/a/b", b""), "https://h.example", "https://h.example/a/b"),
        (_scope(b"/a/tw%40e2e", "/a/tw@e2e", b"q=1"), "", "/a/tw%40e2e?q=1"),
    ],
)
def test_signed_url_is_the_base_and_the_raw_target(scope: dict[str, object], base: str, url: str) -> None:
    from starlette.requests import Request

    request = Request(scope)
    assert signed_url(request, base) == url
    assert url.endswith(target(request))
