"""What a registry record written through the admin API does: routing, deactivation, scopes, audit; and that no
request, however hostile, makes it fail."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from router.admin.api import create_api
from router.settings import Settings
from subscriptions.lifecycle import Lifecycle
from subscriptions.registry import Registry
from tests.clock import Clock
from tests.router.conftest import SLACK_SECRET, SLACK_URL, TEAM, Seed, make_worker, running
from tests.router.record_support import BASE, OPERATOR, SAMPLES, record_id, seed_project
from tests.router.test_admin_scopes import key
from tests.router.test_ingest import jobs, post_slack, slack_event
from tests.subscriptions.fake_provider import FakeProvider
from tests.subscriptions.test_lifecycle import MEMBER, make_lifecycle
from tests.subscriptions.test_lifecycle import clock as clock  # the fixtures
from tests.subscriptions.test_lifecycle import http as http
from tests.subscriptions.test_lifecycle import provider as provider

pytestmark = pytest.mark.anyio


async def test_records_written_through_the_api_route_a_signed_webhook(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    async with running(settings) as api:
        writes = [
            ("integrations", {"id": "slack-app", "type": "slack", "secrets": [SLACK_SECRET]}),
            ("users", {"id": "u1"}),
            ("workflows", {"id": "wf-1", "integration": "slack-app", "trigger": "*", "activations": ["u1"]}),
            ("credentials", {"id": "cred-u1", "user": "u1", "integration": "slack-app", "provider_id": TEAM}),
        ]
        for segment, body in writes:
            assert (await api.post(f"{BASE}/{segment}", json=body, headers=OPERATOR)).status_code == 201
        for _ in range(100):  # the receiver's snapshot reloads within the refresh interval (0.05 s here)
            answer = await post_slack(api, slack_event())
            if answer.status_code != 404:
                break
            await asyncio.sleep(0.02)
        assert answer.status_code == 200, answer.text
    assert await make_worker(redis, registry).run_once() == 1  # another process: its own snapshot
    [job] = await jobs(redis)
    assert (job[b"credential"], job[b"user"], job[b"workflow"]) == (b"cred-u1", b"u1", b"wf-1")


async def seed_onedrive_p1(seed: Seed) -> None:
    await seed(
        project=[{"id": "p1"}],
        integration=[{"id": "od-app", "type": "onedrive"}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-u1", "user": "u1", "integration": "od-app", "values": {"access_token": "tok-u1"}}],
        workflow=[{"id": "wf-1", "integration": "od-app", "trigger": "File Change"}],
        activate=[("wf-1", "u1")],
    )


@pytest.mark.parametrize(
    ("path", "deleted"),
    [
        ("activations/wf-1:u1", [("activation", "wf-1:u1")]),
        ("workflows/wf-1", [("workflow", "wf-1"), ("activation", "wf-1:u1")]),
        ("users/u1", [("user", "u1"), ("activation", "wf-1:u1"), ("credential", "cred-u1")]),
    ],
)
async def test_deleting_deactivates_and_the_provider_subscription_follows(
    settings: Settings,
    seed: Seed,
    redis: Redis,
    registry: Registry,
    http: httpx.AsyncClient,
    provider: FakeProvider,
    clock: Clock,
    path: str,
    deleted: list[tuple[str, str]],
) -> None:
    await seed_onedrive_p1(seed)
    lifecycle: Lifecycle = make_lifecycle(redis, registry, http, provider, clock)
    assert await lifecycle.reconcile_once() == {"created": 1}
    async with running(settings) as api:
        assert (await api.delete(f"{BASE}/{path}", headers=OPERATOR)).status_code == 204
    for kind, record in deleted:
        assert await registry.get(kind, record) is None, (kind, record)
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    assert provider.live == {} and await lifecycle.store.load(MEMBER) is None


async def test_a_record_others_name_is_not_deleted(settings: Settings, seed: Seed, registry: Registry) -> None:
    await seed_project(seed)
    async with running(settings) as api:
        refused = await api.delete(f"{BASE}/integrations/slack-app", headers=OPERATOR)
    assert refused.status_code == 409 and refused.json()["code"] == "in_use"
    assert any("cred-u1" in e["message"] for e in refused.json()["errors"])
    assert await registry.get("integration", "slack-app") is not None


async def test_scopes_read_write_and_other_projects(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_project(seed)
    reader, writer, stranger = [
        await key(redis, s) for s in ("project:p1:read", "project:p1:write", "project:p2:write")
    ]
    async with running(settings) as api:
        assert (await api.get(f"{BASE}/users", headers=reader)).status_code == 200
        assert (await api.get(f"{BASE}/users/u1", headers=reader)).status_code == 200
        refused = await api.post(f"{BASE}/users", json={"id": "u9"}, headers=reader)
        assert refused.status_code == 403 and refused.json()["required"] == "project:p1:write"
        assert (await api.delete(f"{BASE}/users/u1", headers=reader)).status_code == 403
        assert (await api.post(f"{BASE}/users", json={"id": "u9"}, headers=writer)).status_code == 201
        assert (await api.patch("/api/projects/p1", json={"name": "One"}, headers=writer)).status_code == 200
        assert (await api.get("/api/projects", headers=writer)).status_code == 403
        assert (await api.post("/api/projects", json={"id": "p9"}, headers=writer)).status_code == 403
        assert (await api.delete("/api/projects/p1", headers=writer)).status_code == 403
        for method, path in [("GET", f"{BASE}/users"), ("GET", f"{BASE}/users/u1"), ("DELETE", f"{BASE}/users/u1")]:
            assert (await api.request(method, path, headers=stranger)).status_code == 403, path
        creating = await key(redis, "project:p9:write")
        made = await api.put("/api/projects/p9", json={}, headers=creating)
        assert made.status_code == 403 and made.json()["required"] == "operator"


async def test_every_write_is_audited(settings: Settings, seed: Seed) -> None:
    await seed_project(seed)
    async with running(settings) as api:
        await api.post(f"{BASE}/users", json={"id": "u9"}, headers=OPERATOR)
        await api.patch(f"{BASE}/users/u9", json={"disabled": "sometimes"}, headers=OPERATOR)
        await api.delete(f"{BASE}/users/u9", headers=OPERATOR)
        trail = (await api.get("/api/audit", headers=OPERATOR)).json()["data"]
    seen = [(e["action"], e["target"], e["status"], e["actor"]) for e in trail[:3]]
    assert seen == [
        ("delete_user", f"{BASE}/users/u9", 204, "admin-token"),
        ("patch_user", f"{BASE}/users/u9", 422, "admin-token"),
        ("create_user", f"{BASE}/users", 201, "admin-token"),
    ]


def test_each_route_documents_its_body_and_answers() -> None:
    schema = create_api().openapi()
    for segment in SAMPLES:
        item = schema["paths"][f"/projects/{{project_id}}/{segment}/{{record_id}}"]
        assert set(item) == {"get", "put", "patch", "delete"}
        assert "412" in item["put"]["responses"] and "201" in item["put"]["responses"]
        assert {"ETag", "Location"} <= set(item["put"]["responses"]["201"]["headers"])
        assert all("ETag" in item[m]["responses"]["200"]["headers"] for m in ("get", "put", "patch"))
        assert set(item["patch"]["requestBody"]["content"]) == {"application/merge-patch+json", "application/json"}
        body = item["put"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert body in schema["components"]["schemas"]
        view = item["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        shown = schema["components"]["schemas"][view]["properties"]
        assert not {"secrets", "values"} & set(shown), (segment, sorted(shown))
        collection = schema["paths"][f"/projects/{{project_id}}/{segment}"]
        assert {p["name"] for p in collection["get"]["parameters"]} == {"project_id", "limit", "cursor"}


# --- hostile input ----------------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)
FIELDS = st.sampled_from(
    ["id", "project", "type", "secrets", "user", "integration", "values", "target", "activations", "metadata"]
)
IDS = st.text(max_size=40) | st.sampled_from(["u1", "wf-1:u1", "slack-app", "..", "%2e%2e", "a" * 200, "p1"])


@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
    segment=st.sampled_from(sorted(SAMPLES)),
    record=IDS,
    body=st.dictionaries(FIELDS | st.text(max_size=8), JSON, max_size=5) | JSON,
    if_match=st.none() | st.sampled_from(["*", '"x"', ""]),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_record_request_is_a_server_error(
    records_client: httpx.AsyncClient, method: str, segment: str, record: str, body: Any, if_match: str | None
) -> None:
    headers = {**OPERATOR, **({"if-match": if_match} if if_match is not None else {})}
    item = f"{BASE}/{segment}/{quote(record, safe='')}"
    path = f"{BASE}/{segment}" if method == "POST" else item
    answer = await records_client.request(method, path, content=json.dumps(body).encode(), headers=headers)
    assert answer.status_code < 500, (answer.status_code, answer.text)


@pytest.fixture
async def records_client(settings: Settings, seed: Seed) -> httpx.AsyncClient:  # type: ignore[misc]
    await seed_project(seed)
    async with running(settings) as api:
        yield api


async def test_every_sample_is_a_valid_create(settings: Settings, seed: Seed) -> None:
    # The fuzzing above starts from these: each must be a request the API accepts.
    await seed_project(seed)
    async with running(settings) as api:
        for segment, (body, *_) in SAMPLES.items():
            answer = await api.post(f"{BASE}/{segment}", json=body, headers=OPERATOR)
            assert answer.status_code == 201, (segment, answer.text)
            assert answer.json()["id"] == record_id(segment)
    assert SLACK_URL  # the webhook URL the routing test posts to
