from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.settings import Settings
from tests.router.conftest import SLACK_URL, Seed, running, seed_slack

pytestmark = pytest.mark.anyio

PATHS = st.sampled_from(
    [
        SLACK_URL,
        SLACK_URL + "?id=cred-u1",
        SLACK_URL + "?id=%00%ff",
        "/webhook/triggers/connect/slack/",
        "/webhook/triggers/connect/x/y",
        "/api/events",
        "/api/events/1-0",
        "/api/events/..%2f",
        "/healthz",
    ]
)
HEADER_NAMES = st.sampled_from(
    [
        "x-slack-signature",
        "x-slack-request-timestamp",
        "content-type",
        "content-length",
        "authorization",
        "x-github-event",
        "x-hub-signature-256",
        "stripe-signature",
        "webhook-signature",
        "x-anything",
    ]
)
# Header values must be latin-1 without CR/LF to be sendable at all; everything else is fair game.
HEADER_VALUES = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=80)


@given(
    method=st.sampled_from(["POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]),
    path=PATHS,
    body=st.binary(max_size=2048),
    headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=5),
)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_client_input_produces_a_server_error(
    client_for_fuzz: httpx.AsyncClient, method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    headers.pop("content-length", None)  # httpx sets it from the body; a lie is refused by the HTTP layer
    raw = [(name.encode(), value.encode("latin-1")) for name, value in headers.items()]
    response = await client_for_fuzz.request(method, path, content=body, headers=raw)
    assert response.status_code < 500, (response.status_code, response.text)


@pytest.fixture
async def client_for_fuzz(settings: Settings, seed: Seed) -> httpx.AsyncClient:  # type: ignore[misc]
    await seed_slack(seed, users=1)
    async with running(settings) as http:
        yield http
