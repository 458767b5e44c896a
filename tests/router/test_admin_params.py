"""Odd admin parameters get 400 (or 404 for an id that names nothing); 503 means only that Redis is unreachable."""

from __future__ import annotations

import base64
import json

import pytest
from redis.asyncio import Redis

from router.settings import Settings
from tests.router.conftest import ADMIN_TOKEN, Seed, running, seed_slack

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def _cursor(doc: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


BAD_QUERIES = [
    "/api/events?limit=%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "/api/executions?limit=%C2%B2",
    "/api/dead-letters?limit=%C2%B2",
    "/api/dead-letters?limit=abc",
    "/api/notifications?limit=%C2%B2",
    "/api/notifications?limit=1e3",
    "/api/events?cursor=" + _cursor({"s": "Infinity", "m": "x", "t": 1}),
    "/api/events?cursor=" + _cursor({"s": float("inf"), "m": "x", "t": 1}),
    "/api/executions?cursor=" + _cursor({"s": float("nan"), "m": "x", "t": 1}),
    "/api/events?cursor=" + _cursor([1, 2]),
    "/api/dead-letters?after=not-an-id",
    "/api/dead-letters?after=%C2%B2-1",
]

ABSENT = [
    "/api/executions/x",
    "/api/executions/%C2%B2-1:wf",
    "/api/events/%C2%B2-%C2%B2",
    "/api/events/99999999999999999999999-1",
    "/api/deliveries/x",
    "/api/notifications/%C2%B2-1/replay",
    "/api/events/18446744073709551616-0/replay",
]


@pytest.mark.parametrize("path", BAD_QUERIES)
async def test_a_bad_parameter_is_a_400_naming_it(settings: Settings, seed: Seed, path: str) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        response = await http.get(path, headers=AUTH)
    assert response.status_code == 400, (path, response.status_code, response.text)
    assert response.json()["error"]


@pytest.mark.parametrize("path", ABSENT)
async def test_an_id_that_names_nothing_is_a_404(settings: Settings, seed: Seed, path: str) -> None:
    await seed_slack(seed)
    method = "POST" if path.endswith("/replay") else "GET"
    async with running(settings) as http:
        response = await http.request(method, path, headers=AUTH)
    assert response.status_code in (400, 404), (path, response.status_code, response.text)


async def test_an_execution_query_matching_no_job_is_an_empty_page(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        response = await http.get("/api/executions?workflowId=wf-none&status=FAILED", headers=AUTH)
    assert response.status_code == 200, response.text
    assert response.json()["workflowExecutions"] == [] and response.json()["total"] == 0


async def test_a_redis_command_error_is_not_reported_as_an_outage(settings: Settings, seed: Seed, redis: Redis) -> None:
    # A key of the wrong type answers WRONGTYPE: a bug or a foreign writer, not an unreachable store.
    await seed_slack(seed)
    async with running(settings) as http:
        await redis.set("hr:{notify}:events", "not a stream")
        response = await http.get("/api/notifications", headers=AUTH)
    assert response.status_code == 500, response.text
    assert response.json()["error"] == "internal_error"


@pytest.mark.parametrize("token", ["", " ", "x" * 31])
def test_settings_refuse_an_empty_or_short_admin_token(token: str) -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        Settings(admin_token=token, _env_file=None)  # type: ignore[call-arg,arg-type]
