from __future__ import annotations

import json
import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

import verifiers
from router.settings import Settings
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, SLACK_SECRET, SLACK_URL, Seed, make_worker, running, seed_slack

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


# JSON may escape a lone UTF-16 surrogate ("\ud800"), which Python reads as a str that no UTF-8 encoder takes; such a
# value in an id a signed body carries must neither crash the request nor lose the event.
_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)  # st.text() leaves them out, whatever the alphabet
SURROGATE_TEXT = st.lists(st.one_of(_SURROGATES, st.characters(categories=["L", "Nd"])), min_size=1, max_size=12).map(
    "".join
)


@given(event_id=SURROGATE_TEXT, team=SURROGATE_TEXT, event_type=SURROGATE_TEXT)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_ids_holding_lone_surrogates_are_stored_not_a_server_error(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, event_id: str, team: str, event_type: str
) -> None:
    await seed_slack(seed)
    event_id = uuid.uuid4().hex + event_id  # examples share one Redis: each its own delivery
    body = json.dumps(
        {"type": "event_callback", "team_id": team, "event_id": event_id, "event": {"type": event_type}}
    ).encode()  # ensure_ascii: the surrogates travel as \\u escapes, as a provider's JSON would carry them
    headers = verifiers.sign("slack", secrets=[SLACK_SECRET], body=body)
    async with running(settings) as http:
        answer = await http.post(SLACK_URL, content=body, headers={**headers, "content-type": "application/json"})
        assert answer.status_code == 200, answer.text
        (event_id_stored,) = answer.json()["ids"]
        shown = await http.get(f"/api/events/{event_id_stored}", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert shown.status_code == 200, shown.text
        again = await http.post(SLACK_URL, content=body, headers={**headers, "content-type": "application/json"})
        assert again.json() == {"ids": [event_id_stored], "duplicates": 1}
        assert await make_worker(redis, registry).run_once() == 1  # routed, not dead-lettered
        routed = await http.get(f"/api/events/{event_id_stored}", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        assert routed.json()["status"] != "received", routed.text
