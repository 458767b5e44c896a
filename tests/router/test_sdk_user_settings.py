"""User Settings reach the runner: what a user saves on an account (``PATCH /sdk/credentials/{id}``) travels in
the trigger jobs of that account, to a stream runner (``Job.user_settings``) and to an HTTP target (signed
headers), end to end over HTTP with a real Redis and a loopback target."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

import verifiers
from router.delivery.runner import RunnerClient
from router.delivery.signing import SETTINGS_HEADER_BYTES, generate_secret, settings_headers
from router.routing import user_settings
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.models import ConfiguredWorkflow, Credential, CredentialConfig
from subscriptions.registry import Registry
from tests.router.conftest import Seed, running
from tests.router.loopback import http_sink
from tests.router.sdk_support import bearer
from tests.router.test_delivery import delivery_worker, drain
from tests.router.test_ingest import jobs
from tests.router.test_sdk_user_state import BASE, route_webhook, seed_accounts

pytestmark = pytest.mark.anyio
KEYS = Keys()
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# The documented body (L1470–1489) with settings filled in, as the Connect Portal saves them.
SAVED = {
    "config": {
        "configuredWorkflows": {"wf-1": {"enabled": True, "settings": {"example-input-id": "example value"}}},
        "sharedSettings": {"channel": "#ops", "limit": 3},
    }
}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_settings_saved_through_the_sdk_reach_the_stream_runner_and_an_account_without_has_none(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_accounts(registry, seed)
    runner = RunnerClient(redis, KEYS, "wf-1", "runner-1")
    async with running(settings) as client:
        saved = await client.patch(f"{BASE}/credentials/cred-a", json=SAVED, headers=bearer("u1"))
        assert saved.status_code == 200, saved.text
        await route_webhook(client, redis, registry, 1)
    read = {job.entry.credential: job for job in await runner.read(block_ms=10)}
    assert sorted(read) == ["cred-a", "cred-b", "cred-u2"]
    assert read["cred-a"].user_settings == {
        "settings": {"example-input-id": "example value"},
        "sharedSettings": {"channel": "#ops", "limit": 3},
    }
    assert not read["cred-a"].settings_omitted
    # Absent when empty: the other accounts' jobs carry no settings field at all.
    assert read["cred-b"].user_settings == {} and read["cred-u2"].user_settings == {}
    stored = {j[b"credential"]: j for j in await jobs(redis)}
    assert b"user_settings" not in stored[b"cred-b"] and b"user_settings" in stored[b"cred-a"]


async def test_settings_reach_an_http_target_in_signed_headers_and_a_swapped_header_fails_verification(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        target = {"type": "http", "url": sink.url(), "secrets": [SECRET], "timeout_s": 2}
        await seed_accounts(registry, seed, workflow={"target": target})
        async with running(settings) as client:
            saved = await client.patch(f"{BASE}/credentials/cred-a", json=SAVED, headers=bearer("u1"))
            assert saved.status_code == 200, saved.text
            await route_webhook(client, redis, registry, 1)
        await drain(delivery_worker(redis, registry, http))
        received = sink.received
    assert len(received) == 3
    [mine] = [r for r in received if "x-hook-user-settings" in r.headers]
    value = mine.headers["x-hook-user-settings"]
    decoded = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    assert decoded == {
        "settings": {"example-input-id": "example value"},
        "sharedSettings": {"channel": "#ops", "limit": 3},
    }
    # The settings header verifies as a Standard Webhooks payload with the body's id and timestamp.
    signed = {
        "webhook-id": mine.headers["webhook-id"],
        "webhook-timestamp": mine.headers["webhook-timestamp"],
        "webhook-signature": mine.headers["x-hook-user-settings-signature"],
    }
    at = int(mine.headers["webhook-timestamp"])
    verifiers.verify("standard_webhooks", secrets=[SECRET], headers=signed, body=value.encode(), now=at)
    forged = base64.urlsafe_b64encode(b'{"sharedSettings":{"channel":"#evil"}}').rstrip(b"=")
    with pytest.raises(verifiers.SignatureMismatch):
        verifiers.verify("standard_webhooks", secrets=[SECRET], headers=signed, body=forged, now=at)
    # The body is the event's, untouched; the other accounts' deliveries carry no settings headers.
    assert all(r.body == mine.body for r in received)
    others = [r for r in received if r is not mine]
    assert all(not any(h.startswith("x-hook-user-settings") for h in r.headers) for r in others)


def _credential(settings: dict[str, Any], shared: dict[str, Any]) -> Credential:
    config = CredentialConfig(
        configured_workflows={"wf-1": ConfiguredWorkflow(enabled=True, settings=settings)}, shared_settings=shared
    )
    return Credential(id="c", project="p", user="u", integration="i", config=config)


def test_settings_past_the_bound_are_omitted_and_marked() -> None:
    big = {"blob": "x" * user_settings.MAX_BYTES}
    assert user_settings.for_job(_credential(big, {}), "wf-1") == ("", "too_large")
    assert user_settings.for_job(_credential({}, {}), "wf-1") == ("", "")
    assert user_settings.for_job(None, "wf-1") == ("", "")
    # Another workflow's settings are not this workflow's; shared ones are every workflow's.
    text, omitted = user_settings.for_job(_credential({"a": 1}, {"s": 2}), "wf-other")
    assert (json.loads(text), omitted) == ({"sharedSettings": {"s": 2}}, "")


def test_settings_too_large_for_a_header_are_marked_omitted() -> None:
    secret = generate_secret()
    fits = json.dumps({"settings": {"k": "v" * 100}})
    assert set(settings_headers("msg_1", 1, fits, [secret])) == {
        "x-hook-user-settings",
        "x-hook-user-settings-signature",
    }
    large = json.dumps({"settings": {"k": "v" * SETTINGS_HEADER_BYTES}})
    assert settings_headers("msg_1", 1, large, [secret]) == {"x-hook-user-settings-omitted": "too_large"}


@given(
    st.dictionaries(
        st.text(max_size=20),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=30), lambda x: st.lists(x, max_size=3)
        ),
        max_size=5,
    )
)
def test_any_json_settings_round_trip_through_the_job_field(settings: dict[str, Any]) -> None:
    text, omitted = user_settings.for_job(_credential(settings, {}), "wf-1")
    assert omitted == ""
    assert (json.loads(text) if text else {}) == ({"settings": settings} if settings else {})
