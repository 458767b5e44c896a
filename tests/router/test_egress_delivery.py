"""The egress policy where the router uses it: deliveries, destinations, provider subscriptions, the admin API's
destination PUT and test action, and ``hookrouter apply``. Loopback sinks are real servers, refused because the
settings here do not allow loopback (the other suites' ``make_settings`` do)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from router.egress.policy import EgressPolicy
from router.egress.transport import guarded_client
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.clock import Clock
from tests.router.conftest import ADMIN_TOKEN, MASTER_KEY, Seed, make_settings, running, xrange_all
from tests.router.loopback import Reply, http_sink, raw_server, refused_url
from tests.router.test_cli import cli_env, hookrouter
from tests.router.test_delivery import delivery_worker, drain, seed_target, send_events
from tests.router.test_destinations import Pipeline, seed_destinations
from tests.subscriptions.fake_provider import FakeProvider, serve_in_thread
from tests.subscriptions.test_lifecycle import T0, make_lifecycle, seed_onedrive, state

pytestmark = pytest.mark.anyio
KEYS = Keys()
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
PUBLIC_ONLY = EgressPolicy()


@pytest.fixture
def strict(redis_url: str) -> Settings:
    """Settings with the default policy: public addresses only."""
    return make_settings(redis_url, egress_allow="")


@pytest.fixture
async def guarded() -> AsyncIterator[httpx.AsyncClient]:
    async with guarded_client(PUBLIC_ONLY) as client:
        yield client


async def test_a_delivery_to_a_refused_address_is_dead_lettered_at_once(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, guarded: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        await seed_target(seed, sink.url())
        await send_events(settings, redis, registry)
        await drain(delivery_worker(redis, registry, guarded))
        assert sink.received == []
    [(_, dead)] = await xrange_all(redis, KEYS.delivery_dead)
    [attempt] = json.loads(dead[b"attempts"])
    assert dead[b"dead_reason"] == b"address_refused" and attempt["error_class"] == "address_refused"
    assert await redis.zcard(KEYS.delivery_scheduled) == 0


async def test_a_destination_at_a_refused_address_is_dead_lettered_at_once(
    seed: Seed, redis: Redis, registry: Registry, guarded: httpx.AsyncClient
) -> None:
    with http_sink() as sink:
        await seed_destinations(seed, sink.url().replace("127.0.0.1", "localhost"))
        pipeline = Pipeline(redis, registry, guarded)
        await pipeline.emit()
        await pipeline.run(rounds=10)
        assert sink.received == []
    [(_, dead)] = await xrange_all(redis, KEYS.delivery_dead)
    assert dead[b"dead_reason"] == b"address_refused" and len(json.loads(dead[b"attempts"])) == 1


async def test_a_provider_subscription_call_to_a_refused_address_fails_for_good(
    seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_onedrive(seed)
    with serve_in_thread(FakeProvider()) as provider:
        async with guarded_client(PUBLIC_ONLY) as http:
            lifecycle = make_lifecycle(redis, registry, http, provider, Clock(T0))
            assert await lifecycle.reconcile_once() == {"failed": 1}
        failed = await state(lifecycle)
        assert (failed.status, failed.error, failed.attempts) == ("failed", "address_refused", 0)
        assert provider.calls == []


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://169.254.169.254/latest/meta-data/"},
        {"url": "http://0x7f000001/hook"},
        {"url": "http://2130706433/hook"},
        {"url": "http://[::ffff:127.0.0.1]/hook"},
        {"url": "http://10.0.0.7:6379/"},
        {"template": "slack", "url": "https://hooks.slack.com/services/T/B/x", "options": {"base_url": "http://127.1"}},
    ],
)
async def test_saving_a_destination_at_a_refused_address_is_400(strict: Settings, seed: Seed, body: Any) -> None:
    await seed(project=[{"id": "p1"}])
    async with running(strict) as client:
        refused = await client.put("/api/destinations/d", headers=AUTH, json={"project": "p1", **body})
        named = await client.put(
            "/api/destinations/ok", headers=AUTH, json={"project": "p1", "url": "https://hooks.example.com/x"}
        )
    assert refused.status_code == 400 and refused.json()["error"] == "address_refused"
    assert body.get("url", "")[7:] not in refused.text  # the URL may be a credential: never echoed
    assert named.status_code == 201  # names are checked when connecting, not when saved


async def test_the_test_action_reports_a_refused_address_and_never_connects(strict: Settings, seed: Seed) -> None:
    with http_sink() as sink:
        await seed_destinations(seed, sink.url(), sink.url().replace("127.0.0.1", "localhost"))
        async with running(strict) as client:
            literal = (await client.post("/api/destinations/d0/test", headers=AUTH)).json()
            named = (await client.post("/api/destinations/d1/test", headers=AUTH)).json()
        assert sink.received == []
    refused = {"ok": False, "status": None, "latency_ms": None, "error": "address_refused"}
    assert literal == refused and named == refused


async def test_the_test_action_is_not_a_port_scanner(settings: Settings, seed: Seed) -> None:
    # A closed port, a port whose service hangs up without answering, and one that speaks another protocol
    # look the same: unreachable, without a latency figure. A server that answers is still reported as such.
    with (
        raw_server(lambda conn: None) as silent,
        raw_server(lambda conn: conn.sendall(b"SSH-2.0-x\r\n")) as ssh,
        http_sink(Reply(503)) as sink,
    ):
        await seed_destinations(seed, refused_url(), silent + "/hook", ssh + "/hook", sink.url())
        async with running(settings) as client:
            answers = [(await client.post(f"/api/destinations/d{n}/test", headers=AUTH)).json() for n in range(4)]
    assert answers[:3] == [{"ok": False, "status": None, "latency_ms": None, "error": "unreachable"}] * 3
    assert answers[3]["status"] == 503 and answers[3]["error"] == "http_status" and answers[3]["latency_ms"] >= 0


def test_apply_refuses_a_config_with_refused_addresses(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "refused.yaml"
    config.write_text(
        """
project: {id: p1}
integrations: [{id: slack-app, type: slack, secrets: [s]}]
workflows:
  - id: wf-meta
    integration: slack-app
    trigger: "*"
    target: {type: http, url: "http://169.254.169.254/latest", secrets: ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]}
destinations:
  - {id: d-hex, url: "http://0x7f000001/hook"}
"""
    )
    env = cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, HOOKROUTER_PREFIX="egresstest")
    result = hookrouter("apply", "-f", str(config), env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "workflow 'wf-meta': target.url" in output and "destination 'd-hex': url" in output
    assert "169.254.169.254" not in output and "0x7f000001" not in output
    allowed = hookrouter(
        "apply", "-f", str(config), env={**env, "HOOKROUTER_EGRESS_ALLOW": "169.254.0.0/16"}, cwd=tmp_path
    )
    assert allowed.returncode == 2 and "d-hex" in allowed.stdout + allowed.stderr  # a spelling: never allowed
    assert "wf-meta" not in allowed.stdout + allowed.stderr
