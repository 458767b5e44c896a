from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from redis.asyncio import Redis

from router.routing.table import route
from router.settings import Settings
from router.storage.keys import Keys
from router.storage.store import StoredEvent
from subscriptions.config import apply
from subscriptions.models import Project
from subscriptions.registry import Registry
from subscriptions.snapshot import Snapshot
from tests.conftest import start_redis
from tests.router.conftest import Seed, make_registry, make_seed, make_settings, make_worker, running, xrange_all
from tests.router.sdk_support import PROJECT, bearer, keypair, seed_project, seed_users

pytestmark = pytest.mark.anyio
KEYS = Keys()
URL = f"/projects/{PROJECT}/sdk/events/trigger"
PAYLOAD = {"name": "Brandon", "email": "b@example.com", "n": [1, 2.5, None]}


async def seed_workflows(seed: Seed) -> None:
    await seed_users(seed)
    await seed(
        workflow=[
            {"id": "wf-slack", "integration": "slack-app", "trigger_type": "app_event", "trigger": "Contact Created"},
            {"id": "wf-hub", "integration": "hub-app", "trigger_type": "app_event", "trigger": "Contact Created"},
            {"id": "wf-off", "integration": "slack-app", "trigger_type": "app_event", "trigger": "Contact Created"},
            {"id": "wf-other", "integration": "slack-app", "trigger_type": "app_event", "trigger": "Deal Won"},
            {"id": "wf-hook", "integration": "slack-app", "trigger": "*"},
        ],
        activate=[("wf-slack", "u1"), ("wf-hub", "u1"), ("wf-other", "u1"), ("wf-hook", "u1"), ("wf-slack", "u2")],
    )


async def jobs(redis: Redis, workflow: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await xrange_all(redis, KEYS.triggers(workflow))]


async def send(http: httpx.AsyncClient, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return await http.post(URL, json=body, headers=bearer() if headers is None else headers)


async def test_one_event_fires_every_active_workflow_on_it_across_integrations(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created", "payload": PAYLOAD})
    assert response.status_code == 201
    event_id = response.json()["id"]
    [(stored_id, stored)] = await xrange_all(redis, KEYS.ingest)  # durably stored before the 201
    assert stored_id.decode() == event_id and stored[b"source"] == b"app_event" and stored[b"user"] == b"u1"
    assert await make_worker(redis, registry).run_once() == 1

    [slack] = await jobs(redis, "wf-slack")
    [hub] = await jobs(redis, "wf-hub")
    assert slack[b"integration"] == b"slack-app" and slack[b"integration_type"] == b"slack"
    assert slack[b"credential"] == b"cred-slack-a"  # the first of u1's two Slack accounts, by id
    assert hub[b"integration"] == b"hub-app" and hub[b"credential"] == b"cred-hub"
    for job in (slack, hub):
        assert job[b"user"] == b"u1" and job[b"event_type"] == b"Contact Created"
        assert job[b"trigger_type"] == b"app_event" and job[b"event_id"].decode() == event_id
        assert json.loads(job[b"body"]) == PAYLOAD
    assert await jobs(redis, "wf-off") == []  # not activated for u1
    assert await jobs(redis, "wf-other") == []  # another event name
    assert await jobs(redis, "wf-hook") == []  # a webhook-triggered workflow
    outcome = json.loads(await redis.hget(KEYS.outcomes, event_id) or b"{}")
    assert outcome["status"] == "matched" and outcome["skipped"] == {"workflow_not_activated": 1}


async def test_only_the_callers_workflows_fire(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        assert (await send(http, {"name": "Contact Created"}, bearer("u2"))).status_code == 201
    await make_worker(redis, registry).run_once()
    [job] = await jobs(redis, "wf-slack")
    assert job[b"user"] == b"u2" and job[b"credential"] == b"cred-slack-u2"
    assert json.loads(job[b"body"]) == {}  # no payload: an empty object
    assert await jobs(redis, "wf-hub") == []  # u2 did not activate it (nor connect HubSpot)


@pytest.mark.parametrize("header", ["X-Paragon-Credential", "X-Hook-Credential"])
async def test_a_credential_header_picks_the_account(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, header: str
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created", "payload": {}}, {**bearer(), header: "cred-slack-b"})
    assert response.status_code == 201
    await make_worker(redis, registry).run_once()
    [slack] = await jobs(redis, "wf-slack")
    [hub] = await jobs(redis, "wf-hub")
    assert slack[b"credential"] == b"cred-slack-b"
    assert hub[b"credential"] == b"cred-hub"  # the named account is a Slack one: HubSpot keeps its own


async def test_someone_elses_credential_is_unknown(settings: Settings, seed: Seed, registry: Registry) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created"}, {**bearer(), "x-paragon-credential": "cred-slack-u2"})
    assert response.status_code == 404 and response.json()["error"] == "unknown_credential"


async def test_unknown_event_name_is_404_naming_it_and_the_defined_ones(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Deleted", "payload": {}})
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "unknown_event"
    assert "'Contact Deleted'" in body["message"]
    assert "'Contact Created'" in body["message"] and "'Deal Won'" in body["message"]
    assert await redis.exists(KEYS.ingest) == 0  # nothing stored


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        (bearer(age_s=7200), 401, "token_expired"),  # expired an hour ago
        (bearer(key=1), 401, "invalid_signature"),  # signed with a key the project does not have
        (bearer(omit=("iat",)), 401, "token_missing_iat"),
        (bearer(omit=("exp",)), 401, "token_missing_exp"),
        (bearer(age_s=-600), 401, "token_not_yet_valid"),  # issued ten minutes in the future
        (bearer("not a user id"), 401, "token_subject_invalid"),  # a user is created on first use, with an id
        (bearer("u3"), 403, "user_disabled"),
        ({}, 401, "missing_token"),
        ({"authorization": "Basic dTE6cHc="}, 401, "missing_token"),
        ({"authorization": "Bearer not.a.jwt"}, 401, "token_malformed"),
    ],
)
async def test_bad_tokens_are_refused_with_a_reason(
    settings: Settings,
    seed: Seed,
    redis: Redis,
    registry: Registry,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created"}, headers)
    assert response.status_code == status
    assert response.json() == {"error": reason}
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert await redis.exists(KEYS.ingest) == 0


@pytest.mark.parametrize(
    ("ttl_s", "status"),
    [(86400, 201), (86400 + 30, 201), (86400 + 3600, 401), (10 * 365 * 86400, 401)],
)
async def test_a_token_valid_further_ahead_than_the_maximum_lifetime_is_refused(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, ttl_s: int, status: int
) -> None:
    """A token that never (or only in years) expires is a standing credential once it leaks: bounded by
    HOOKROUTER_USER_TOKEN_MAX_LIFETIME_S (a day) plus the clock-skew leeway."""
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created"}, bearer(ttl_s=ttl_s))
    assert response.status_code == status
    if status == 401:
        assert response.json() == {"error": "token_lifetime_too_long"}
        assert await redis.exists(KEYS.ingest) == 0


async def test_the_maximum_lifetime_is_a_setting(redis_url: str, seed: Seed, registry: Registry) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(make_settings(redis_url, user_token_max_lifetime_s=600)) as http:
        short = await send(http, {"name": "Contact Created"}, bearer(ttl_s=600))
        hour = await send(http, {"name": "Contact Created"}, bearer(ttl_s=3600))
    assert short.status_code == 201
    assert (hour.status_code, hour.json()) == (401, {"error": "token_lifetime_too_long"})


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Contact Created", "payload": {"amount": NaN}}',
        b'{"name": "Contact Created", "payload": {"amount": Infinity}}',
        b'{"name": "Contact Created", "payload": {"amount": -Infinity}}',
        b'{"name": "Contact Created", "payload": {"amount": 1e999}}',
        b'{"name": "Contact Created", "payload": [-1e400]}',
    ],
)
async def test_non_finite_numbers_are_refused_as_invalid_json(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, body: bytes
) -> None:
    """Python reads them; RFC 8259 and every other runtime do not: the stored event would be unreadable."""
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await http.post(URL, content=body, headers={**bearer(), "content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "invalid_json"
    assert await redis.exists(KEYS.ingest) == 0


@pytest.mark.parametrize(
    ("claims", "accepted"),
    [
        ({"age_s": 3630}, True),  # expired 30 s ago: within the 60 s leeway
        ({"age_s": 3700}, False),  # 100 s ago: beyond it
        ({"age_s": -30}, True),  # a clock 30 s ahead of ours
    ],
)
async def test_clock_skew_is_bounded_by_the_leeway(
    settings: Settings, seed: Seed, registry: Registry, claims: dict[str, Any], accepted: bool
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created"}, bearer(**claims))
    assert (response.status_code == 201) is accepted


async def test_rotation_accepts_every_listed_key_even_pasted_with_escaped_newlines(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(registry, keys=(0, 1), escaped=True)
    await seed_workflows(seed)
    async with running(settings) as http:
        for key in (0, 1):
            assert (await send(http, {"name": "Contact Created"}, bearer(key=key))).status_code == 201
        assert (await send(http, {"name": "Contact Created"}, bearer(key=2))).json() == {"error": "invalid_signature"}


async def test_a_project_without_keys_refuses_every_token(settings: Settings, seed: Seed, registry: Registry) -> None:
    await seed_project(registry, keys=())
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await send(http, {"name": "Contact Created"})
    assert response.status_code == 401 and response.json() == {"error": "user_tokens_not_configured"}


@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_body"),
        (b'{"payload": {}}', 400, "invalid_body"),
        (b'{"name": 7}', 400, "invalid_body"),
        (b"[" * 100_000, 400, "invalid_json"),  # deep nesting: a RecursionError, not a 500
    ],
)
async def test_unreadable_bodies_are_400(
    settings: Settings, seed: Seed, registry: Registry, content: bytes, status: int, error: str
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(settings) as http:
        response = await http.post(URL, content=content, headers={**bearer(), "content-type": "application/json"})
    assert response.status_code == status and response.json()["error"] == error


async def test_unknown_project_is_404_before_any_token_check(settings: Settings, registry: Registry) -> None:
    await seed_project(registry)
    async with running(settings) as http:
        response = await http.post("/projects/nope/sdk/events/trigger", json={"name": "Contact Created"})
    assert response.status_code == 404 and response.json() == {"error": "unknown_project"}


async def test_body_over_the_limit_is_413(redis_url: str, seed: Seed, registry: Registry) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    async with running(make_settings(redis_url, max_body_bytes=1000)) as http:
        response = await send(http, {"name": "Contact Created", "payload": "x" * 2000})
    assert response.status_code == 413


async def test_a_workflow_on_a_disabled_integration_does_not_fire(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_project(registry)
    await seed_workflows(seed)
    await seed(integration=[{"id": "hub-app", "type": "hubspot", "enabled": False}])
    async with running(settings) as http:
        event_id = (await send(http, {"name": "Contact Created"})).json()["id"]
    await make_worker(redis, registry).run_once()
    assert len(await jobs(redis, "wf-slack")) == 1 and await jobs(redis, "wf-hub") == []
    outcome = json.loads(await redis.hget(KEYS.outcomes, event_id) or b"{}")
    assert outcome["skipped"] == {"integration_disabled": 1, "workflow_not_activated": 1}


def test_a_request_for_a_workflow_gone_since_is_recorded_not_routed() -> None:
    event = StoredEvent(KEYS.ingest, "1-0", {"source": b"request", "project": b"p1", "workflow": b"wf-gone"})
    writes, outcome = route(Snapshot(), event, KEYS)
    assert writes == [] and outcome.status == "workflow_unknown"


async def test_unusable_keys_are_skipped_and_other_algorithms_refused(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    keys = ["not a pem", ec_public, keypair(0)[1]]
    await apply(registry, [Project(id=PROJECT, user_token_public_keys=keys, app_events=["Contact Created"])])
    await seed_workflows(seed)
    now = int(time.time())
    hs256 = jwt.encode({"sub": "u1", "iat": now, "exp": now + 60}, "shared-secret-of-32-bytes-or-more!", "HS256")
    async with running(settings) as http:
        assert (await send(http, {"name": "Contact Created"})).status_code == 201
        refused = await send(http, {"name": "Contact Created"}, {"authorization": f"Bearer {hs256}"})
    assert refused.status_code == 401 and refused.json() == {"error": "token_algorithm_not_allowed"}


async def test_store_down_is_503(tmp_path: Path, seed: Seed) -> None:
    proc = start_redis(tmp_path)
    redis_url = f"unix://{tmp_path / 'redis.sock'}"
    redis = Redis.from_url(redis_url)
    try:
        registry = make_registry(redis)
        await seed_project(registry)
        await seed_workflows(make_seed(registry))
        async with running(make_settings(redis_url)) as http:
            proc.terminate()
            proc.wait(timeout=5)
            response = await send(http, {"name": "Contact Created"})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
    finally:
        await redis.aclose()
        proc.terminate()
        proc.wait(timeout=5)
