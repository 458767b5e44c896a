"""Every error the admin API answers is an RFC 9457 problem document; the webhook routes keep their bodies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis

from router.admin.params import BadParameter
from router.admin.problems import MEDIA_TYPE, TYPE_BASE, from_router_error
from router.app import create_app
from router.errors import StoreUnavailable
from router.history.replay_jobs import ReplayConflict
from router.settings import Settings
from tests.router.conftest import ADMIN_TOKEN, Seed, make_registry, make_seed, make_settings, running, seed_slack
from tests.router.test_admin_auth import endpoints
from tests.router.test_admin_scopes import key
from tests.router.test_faults import RedisProcess
from tests.router.test_faults import own_redis as own_redis  # the fixture
from tests.router.test_ingest import post_slack, slack_event
from tests.router.test_replay import post_events

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def problem_of(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The reply's problem document, checked against RFC 9457 and the old ``error`` field."""
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"] == MEDIA_TYPE
    body = reply.json()
    assert isinstance(body, dict), body
    assert body["type"] == TYPE_BASE + code and body["code"] == code
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == status  # RFC 9457: the status member equals the HTTP status
    assert "error" in body  # kept for the clients that read it before problem details
    return body


@pytest.mark.parametrize(("admin_token", "code"), [(ADMIN_TOKEN, "unauthorized"), (None, "admin_api_disabled")])
async def test_every_api_route_answers_401_as_a_problem(redis_url: str, admin_token: str | None, code: str) -> None:
    app = create_app(make_settings(redis_url, admin_token=admin_token))
    api = [(m, p) for m, p in endpoints(app.routes) if p.startswith("/api/") and m != "HEAD"]
    assert len(api) >= 30, api  # the walk found the admin API
    wrong: list[str] = []
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as http:
            for method, path in api:
                body = b"{}" if method in ("POST", "PUT", "PATCH") else None
                reply = await http.request(method, path, headers={"authorization": "Bearer nope"}, content=body)
                try:
                    document = problem_of(reply, 401, code)
                    assert document["error"] == code and reply.headers["www-authenticate"] == "Bearer"
                except (AssertionError, KeyError, ValueError) as exc:
                    wrong.append(f"{method} {path}: {reply.status_code} {reply.text[:200]} ({exc!r})")
    assert wrong == []


async def test_a_bad_parameter_is_a_400_problem_naming_the_field(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        limit = await http.get("/api/events?limit=abc", headers=AUTH)
        after = await http.get("/api/dead-letters?after=not-an-id", headers=AUTH)
        dead_limit = await http.get("/api/dead-letters?limit=abc", headers=AUTH)
        status = await http.get("/api/events?status=sideways", headers=AUTH)
        report = await http.post("/api/executions/x1/failure", headers=AUTH, json={"user": "u1", "error": "e"})
        replay = await http.post("/api/replays", headers=AUTH, json={"request_id": "r", "mode": "sideways"})
    body = problem_of(limit, 400, "bad_filter")
    assert body["errors"] == [{"field": "limit", "message": "limit must be an integer from 1 to 1000"}]
    assert body["error"] == "bad_request" and body["message"] == body["detail"]  # the old members, unchanged
    assert [e["field"] for e in problem_of(after, 400, "bad_parameter")["errors"]] == ["after"]
    body = problem_of(dead_limit, 400, "bad_parameter")
    assert body["errors"] == [{"field": "limit", "message": "limit must be an integer"}]
    assert body["error"] == body["detail"] == "limit must be an integer"  # the old body, unchanged
    assert [e["field"] for e in problem_of(status, 400, "bad_filter")["errors"]] == ["status"]
    body = problem_of(report, 422, "invalid_body")
    assert body["error"] == "invalid_body" and body["problems"]  # the old members stay
    assert "workflow" in [e["field"] for e in body["errors"]]
    body = problem_of(replay, 422, "invalid_body")  # a body the model refuses: 422 since the route declares it
    assert [e["field"] for e in body["errors"]] == ["mode"] and body["problems"]


async def test_an_insufficient_scope_is_a_403_problem(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_slack(seed)
    headers = await key(redis, "project:p1:read")
    async with running(make_settings(redis_url)) as http:
        refused = await http.get("/api/destinations", headers=headers)
    body = problem_of(refused, 403, "insufficient_scope")
    assert body["required"] == "operator" and "operator" in body["detail"]


async def test_a_missing_record_or_route_is_a_404_problem_but_webhook_routes_are_unchanged(
    settings: Settings, seed: Seed
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        missing = await http.get("/api/events/1-1", headers=AUTH)
        destination = await http.delete("/api/destinations/none", headers=AUTH)
        no_route = await http.get("/api/no-such-thing", headers=AUTH)
        wrong_method = await http.patch("/api/keys", headers=AUTH)
        outside = await http.get("/no-such-thing")
    assert problem_of(missing, 404, "not_found")["error"] == "not_found"
    assert problem_of(destination, 404, "not_found")["deleted"] is False
    problem_of(no_route, 404, "not_found")
    problem_of(wrong_method, 405, "method_not_allowed")
    assert wrong_method.headers["allow"]  # Starlette's header survives
    assert outside.status_code == 404 and outside.headers["content-type"].startswith("text/plain")


async def test_a_replay_conflict_is_a_409_problem(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    [event_id] = await post_events(settings, 1)
    body = {"request_id": "once", "event_id": event_id, "mode": "reroute"}
    async with running(settings) as http:
        assert (await http.post("/api/replays", json=body, headers=AUTH)).status_code == 202
        conflict = await http.post("/api/replays", json={**body, "mode": "redeliver"}, headers=AUTH)
    document = problem_of(conflict, 409, "replay_conflict")
    assert document["error"] == "conflict" and document["detail"] == document["message"]


async def test_a_stopped_redis_is_a_503_problem_with_retry_after_and_webhooks_keep_their_body(
    own_redis: tuple[RedisProcess, Redis],
) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    async with running(make_settings(server.url)) as http:
        assert (await http.get("/api/events", headers=AUTH)).status_code == 200
        server.stop()
        events = await http.get("/api/events", headers=AUTH)
        webhook = await post_slack(http, slack_event(event_id="Ev1"))
    assert problem_of(events, 503, "store_unavailable")["error"] == "store_unavailable"
    assert events.headers["retry-after"]
    assert webhook.status_code == 503 and webhook.json() == {"error": "store_unavailable"}
    assert webhook.headers["content-type"] == "application/json"


def test_a_router_error_keeps_its_members_and_headers() -> None:
    unavailable = from_router_error(StoreUnavailable())
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "5"
    conflict = from_router_error(ReplayConflict())
    assert conflict.body and b'"error":"conflict"' in conflict.body and b'"code":"replay_conflict"' in conflict.body
    bad = from_router_error(BadParameter("cursor", "cursor is not one this API made"))
    assert b'"errors":[{"field":"cursor","message":"cursor is not one this API made"}]' in bad.body
