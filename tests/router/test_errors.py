"""One error tree for the router, and one place where its errors become HTTP answers."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.requests import Request
from starlette.routing import Route

from router.app import create_app
from router.ingress.custom import VerifierUnavailable
from router.settings import Settings
from tests.router.conftest import Seed, make_settings, running, seed_slack

pytestmark = pytest.mark.anyio

SLACK_URL = "/webhook/triggers/connect/slack/slack-app"


async def test_a_body_over_the_limit_answers_its_code_and_the_limit(redis_url: str, seed: Seed) -> None:
    await seed_slack(seed)
    async with running(make_settings(redis_url, max_body_bytes=1024)) as http:
        response = await http.post(SLACK_URL, content=b"{" + b" " * 2048 + b"}")
    assert response.status_code == 413
    assert response.json() == {"error": "body_too_large", "limit_bytes": 1024}


async def test_a_client_gone_mid_body_is_400(redis_url: str, seed: Seed) -> None:
    await seed_slack(seed)
    app = create_app(make_settings(redis_url))
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"{", "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": SLACK_URL,
        "raw_path": SLACK_URL.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"hooks.test"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1234),
        "server": ("hooks.test", 80),
    }
    async with LifespanManager(app) as manager:
        await manager.app(scope, receive, send)
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 400


async def test_a_router_error_without_a_status_is_a_500_not_an_answer(settings: Settings) -> None:
    app = create_app(settings)

    async def broken(request: Request) -> None:
        raise VerifierUnavailable("no verifier")

    app.router.routes.append(Route("/_broken", broken))
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks.test") as http:
            response = await http.get("/_broken")
    assert response.status_code == 500
