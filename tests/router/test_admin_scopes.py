"""Every operation the admin API's schema documents checks its scope: a key of an unrelated project gets nothing, a
read key cannot write."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from starlette.routing import Mount

from router.admin.guard import RULES
from router.admin.scopes import Rule
from router.app import create_app
from router.settings import Settings
from subscriptions.api_keys import ApiKeys
from subscriptions.keys import RegistryKeys
from tests.router.conftest import SLACK_SECRET, Seed, make_settings, running, seed_slack
from tests.router.problem_support import legacy
from tests.router.schema_walk import operations, published
from tests.router.test_admin_auth import endpoints
from tests.router.test_replay import post_events

pytestmark = pytest.mark.anyio

# A body every POST/PUT handler could act on, naming project p1's records, so a refusal is the scope's doing.
BODY = b'{"workflow": "1", "project": "p1", "name": "k", "scopes": ["operator"], "error": "e", "type": "webhook"}'


async def seed_p1(seed: Seed) -> None:
    """Records with id "1" (what the route walk puts in every path parameter), all in project p1."""
    await seed(
        project=[{"id": "p1"}, {"id": "p2"}],
        integration=[{"id": "1", "type": "slack", "secrets": [SLACK_SECRET]}],
        user=[{"id": "u1"}],
        credential=[{"id": "1", "user": "u1", "integration": "1", "provider_id": "T1"}],
        workflow=[{"id": "1", "name": "wf", "integration": "1", "trigger": "*"}],
        destination=[{"id": "1", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
    )


async def key(redis: Redis, *scopes: str) -> dict[str, str]:
    _, token = await ApiKeys(redis, RegistryKeys()).create("test", scopes)
    return {"authorization": f"Bearer {token}"}


def api_routes(settings: Settings) -> list[tuple[str, str, APIRoute]]:
    api = next(r for r in create_app(settings).routes if isinstance(r, Mount) and r.path == "/api")
    found = []
    for route in api.routes:
        if isinstance(route, APIRoute):
            for method, path in endpoints([route], "/api"):
                found.append((method, path, route))
    return found


def rules(settings: Settings) -> dict[str, Rule]:
    """The rule each operation's route declared, by "METHOD /api/path" with its parameters filled in."""
    return {f"{m} {p}": RULES[r.endpoint] for m, p, r in api_routes(settings)}


async def answers(settings: Settings, headers: dict[str, str]) -> dict[str, int]:
    """What each operation of the published schema answers to ``headers``."""
    out: dict[str, int] = {}
    async with running(settings) as http:
        for method, path in operations(await published(http)):
            body = BODY if method in ("POST", "PUT", "PATCH") else None
            reply = await http.request(method, path, headers=headers, content=body)
            out[f"{method} {path}"] = reply.status_code
            if reply.status_code == 403 and method != "HEAD":
                assert reply.json()["error"] == "insufficient_scope", (method, path)
    return out


def test_every_api_route_declares_its_scope(redis_url: str) -> None:
    routes = api_routes(make_settings(redis_url))
    assert len(routes) >= 33
    assert [f"{m} {p}" for m, p, r in routes if r.endpoint not in RULES] == []
    # A route that changes something is never declared a read.
    changes = [(m, p, r) for m, p, r in routes if m not in ("GET", "HEAD")]
    assert len(changes) >= 15
    assert [f"{m} {p}" for m, p, r in changes if RULES[r.endpoint].access == "read"] == []


async def test_a_key_of_another_project_is_refused_everywhere(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_p1(seed)
    settings = make_settings(redis_url)
    got = await answers(settings, await key(redis, "project:p2:read", "project:p2:write"))
    assert len(got) >= 33
    assert {k: v for k, v in got.items() if v not in (403, 404)} == {}
    # Records of p1 look missing to p2's key; routes across projects want the operator.
    assert got["GET /api/integrations/1/verification-failures"] == 404
    assert got["GET /api/keys"] == 403


async def test_a_read_key_is_refused_every_write_route(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_p1(seed)
    settings = make_settings(redis_url)
    got = await answers(settings, await key(redis, "project:p1:read"))
    declared = rules(settings)
    writes = {operation for operation in got if declared[operation].access != "read"}
    assert len(writes) >= 20
    assert {k: got[k] for k in writes if got[k] != 403} == {}
    # The same key reads its project's records.
    assert got["GET /api/integrations/1/verification-failures"] == 200
    assert got["GET /api/workflows/1/triggers"] == 200
    assert got["GET /api/destinations/1"] == 200


async def test_a_write_key_acts_on_its_project_only(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_p1(seed)
    headers = await key(redis, "project:p1:write")
    async with running(make_settings(redis_url)) as http:
        assert (await http.get("/api/destinations?project=p1", headers=headers)).status_code == 200
        refused = await http.get("/api/destinations", headers=headers)
        assert refused.status_code == 403
        assert legacy(refused.json()) == {"error": "insufficient_scope", "required": "operator"}
        other = await http.get("/api/events?project=p2", headers=headers)
        assert legacy(other.json()) == {"error": "insufficient_scope", "required": "project:p2:read"}
        assert (await http.get("/api/events?project=p1", headers=headers)).status_code == 200
        assert (await http.post("/api/destinations/1/disable", headers=headers)).status_code == 200
        moved = await http.put("/api/destinations/1", headers=headers, json={"project": "p2", "type": "webhook"})
        assert legacy(moved.json()) == {"error": "insufficient_scope", "required": "operator"}
        failure = {"workflow": "1", "user": "u1", "error": "boom"}
        assert (await http.post("/api/executions/x1/failure", headers=headers, json=failure)).status_code == 202
        invalidated = await http.post("/api/credentials/1/invalidate", headers=headers, json={"error": "expired"})
        assert invalidated.status_code == 200, invalidated.text


async def test_an_event_is_seen_by_its_project_only(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_slack(seed)  # project p1
    settings = make_settings(redis_url)
    [event_id] = await post_events(settings, 1)
    ours, theirs = await key(redis, "project:p1:read"), await key(redis, "project:p2:write")
    async with running(settings) as http:
        assert (await http.get(f"/api/events/{event_id}", headers=ours)).json()["project"] == "p1"
        hidden = await http.get(f"/api/events/{event_id}", headers=theirs)
        assert (hidden.status_code, legacy(hidden.json())) == (404, {"error": "not_found"})
        assert (await http.get("/api/events/1-1", headers=ours)).status_code == 404
