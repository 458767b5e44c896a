from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from starlette.datastructures import Headers

from router.ingress import headers as stored_headers
from router.settings import Settings
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import (
    ADMIN_TOKEN,
    SLACK_SECRET,
    SLACK_URL,
    TEAM,
    Seed,
    make_settings,
    make_worker,
    running,
    seed_slack,
    xrange_all,
)
from tests.router.problem_support import legacy
from tests.verifiers import test_github, test_slack, test_stripe

pytestmark = pytest.mark.anyio
KEYS = Keys()


def slack_event(event_type: str = "message", *, team: str = TEAM, event_id: str = "Ev1") -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": team,
            "event_id": event_id,
            "event": {"type": event_type, "text": "hello"},
        }
    ).encode()


def signed(body: bytes, secret: str = SLACK_SECRET) -> dict[str, str]:
    return test_slack.sign(body, secret=secret, now=int(time.time()))


async def post_slack(http: httpx.AsyncClient, body: bytes, url: str = SLACK_URL, **kw: str) -> httpx.Response:
    return await http.post(url, content=body, headers={**signed(body), "content-type": "application/json", **kw})


async def entries(redis: Redis, stream: str) -> list[dict[bytes, bytes]]:
    return [fields for _, fields in await xrange_all(redis, stream)]


async def jobs(redis: Redis, workflow: str = "wf-1") -> list[dict[bytes, bytes]]:
    return await entries(redis, KEYS.triggers(workflow))


async def outcome(redis: Redis, event_id: str) -> dict[str, object]:
    raw = await redis.hget(KEYS.outcomes, event_id)
    assert raw is not None, "no routing outcome recorded"
    return dict(json.loads(raw))


async def test_signed_slack_event_becomes_one_trigger_job(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        response = await post_slack(http, slack_event())
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(response.content))
    [event_id] = response.json()["ids"]
    assert response.content == json.dumps({"ids": [event_id]}, separators=(",", ":")).encode()  # as JSONResponse
    assert await make_worker(redis, registry).run_once() == 1
    [job] = await jobs(redis)
    assert job[b"credential"] == b"cred-u1" and job[b"user"] == b"u1" and job[b"workflow"] == b"wf-1"
    assert job[b"event_id"].decode() == event_id and job[b"provider_id"] == TEAM.encode()
    assert job[b"body"] == slack_event()
    assert (await outcome(redis, event_id))["status"] == "matched"
    assert await redis.xpending(KEYS.ingest, "routing") == {"pending": 0, "min": None, "max": None, "consumers": []}


async def test_two_credentials_sharing_a_team_id_get_a_job_each(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed, users=2)
    async with running(settings) as http:
        assert (await post_slack(http, slack_event())).status_code == 200
    await make_worker(redis, registry).run_once()
    assert sorted(j[b"credential"] for j in await jobs(redis)) == [b"cred-u1", b"cred-u2"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"user": [{"id": "u1", "disabled": True}]}, "user_disabled"),
        (
            {
                "credential": [
                    {
                        "id": "cred-u1",
                        "user": "u1",
                        "integration": "slack-app",
                        "provider_id": TEAM,
                        "status": "INVALID",
                    }
                ]
            },
            "credential_invalid",
        ),
        ({"workflow": [{"id": "wf-1", "integration": "slack-app", "deployed": False}]}, "workflow_not_deployed"),
        (
            {"activation": [{"id": "wf-1:u1", "workflow": "wf-1", "user": "u1", "enabled": False}]},
            "workflow_not_activated",
        ),
    ],
)
async def test_gates_stop_the_job_and_the_outcome_says_why(
    settings: Settings,
    seed: Seed,
    redis: Redis,
    registry: Registry,
    change: dict[str, list[dict[str, object]]],
    reason: str,
) -> None:
    await seed_slack(seed)
    await seed(**change)
    async with running(settings) as http:
        response = await post_slack(http, slack_event())
    await make_worker(redis, registry).run_once()
    assert await jobs(redis) == []
    result = await outcome(redis, response.json()["ids"][0])
    assert result == {"status": "no_workflow", "jobs": [], "skipped": {reason: 1}}


async def test_unknown_tenant_is_kept_and_marked(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        response = await post_slack(http, slack_event(team="T-OTHER"))
    await make_worker(redis, registry).run_once()
    assert await redis.xlen(KEYS.ingest) == 1
    assert (await outcome(redis, response.json()["ids"][0]))["status"] == "no_credential"


async def test_trigger_filters_by_event_type(settings: Settings, seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_slack(seed, trigger="New Message Reaction")
    async with running(settings) as http:
        other = await post_slack(http, slack_event("message"))
        wanted = await post_slack(http, slack_event("reaction_added", event_id="Ev2"))
    await make_worker(redis, registry).run_once()
    [job] = await jobs(redis)
    assert job[b"event_id"].decode() == wanted.json()["ids"][0]
    assert (await outcome(redis, other.json()["ids"][0]))["status"] == "no_workflow"


async def test_user_level_url_routes_to_the_named_credential_only(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed, users=2)
    async with running(settings) as http:
        response = await post_slack(http, slack_event(), url=SLACK_URL + "?id=cred-u2")
        missing = await post_slack(http, slack_event(), url=SLACK_URL + "?id=nope")
    assert response.status_code == 200 and missing.status_code == 404
    await make_worker(redis, registry).run_once()
    assert [j[b"credential"] for j in await jobs(redis)] == [b"cred-u2"]


@pytest.mark.parametrize(
    ("url", "headers_for", "status", "code"),
    [
        (SLACK_URL, lambda b: test_slack.sign(b, secret="wrong", now=int(time.time())), 401, "signature_mismatch"),
        (SLACK_URL, lambda b: {}, 401, "missing_header"),
        (
            SLACK_URL,
            lambda b: test_slack.sign(b, secret=SLACK_SECRET, now=int(time.time()) - 600),
            401,
            "timestamp_out_of_range",
        ),
        ("/webhook/triggers/connect/slack/nope", lambda b: signed(b), 404, "unknown_integration"),
        ("/webhook/triggers/connect/github/slack-app", lambda b: signed(b), 404, "unknown_integration"),
    ],
)
async def test_rejections_store_nothing(
    settings: Settings, seed: Seed, redis: Redis, url: str, headers_for: object, status: int, code: str
) -> None:
    await seed_slack(seed)
    body = slack_event()
    async with running(settings) as http:
        response = await http.post(url, content=body, headers=headers_for(body))  # type: ignore[operator]
    assert (response.status_code, response.json()) == (status, {"error": code})
    assert await redis.exists(KEYS.ingest) == 0


async def test_oversized_body_is_413_declared_or_streamed(redis_url: str, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    body = slack_event() + b" " * 2048
    async with running(make_settings(redis_url, max_body_bytes=1024)) as http:
        declared = await post_slack(http, body)

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 256):
                yield body[start : start + 256]

        streamed = await http.post(SLACK_URL, content=chunks(), headers=signed(body))
    assert declared.status_code == 413 and streamed.status_code == 413
    assert await redis.exists(KEYS.ingest) == 0


async def test_wrong_method_is_405(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        put = await http.put(SLACK_URL, content=b"{}")
        get = await http.get(SLACK_URL)
    assert put.status_code == 405 and get.status_code == 405


async def test_slack_url_verification_is_answered_and_not_stored(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    body = json.dumps({"type": "url_verification", "token": "t", "challenge": "3eZbrw1aB"}).encode()
    async with running(settings) as http:
        ok = await post_slack(http, body)
        forged = await http.post(
            SLACK_URL, content=body, headers=test_slack.sign(body, secret="x", now=int(time.time()))
        )
    assert ok.status_code == 200 and ok.json() == {"challenge": "3eZbrw1aB"}
    assert forged.status_code == 401
    assert await redis.exists(KEYS.ingest) == 0


async def test_github_and_stripe_events_are_verified_and_stored(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(
        integration=[
            {"id": "gh", "type": "github", "secrets": ["gh-secret"]},
            {"id": "st", "type": "stripe", "secrets": ["whsec_abc"]},
        ],
        user=[{"id": "u1"}],
        credential=[
            {"id": "c-gh", "user": "u1", "integration": "gh", "provider_id": "42"},
            {"id": "c-st", "user": "u1", "integration": "st", "provider_id": "acct_1"},
        ],
        workflow=[
            {"id": "wf-gh", "integration": "gh", "trigger": "Issue Created"},
            {"id": "wf-st", "integration": "st", "trigger": "event:invoice.paid"},
        ],
        activate=[("wf-gh", "u1"), ("wf-st", "u1")],
    )
    gh_body = json.dumps({"action": "opened", "installation": {"id": 42}}).encode()
    st_body = json.dumps({"id": "evt_1", "type": "invoice.paid", "account": "acct_1"}).encode()
    async with running(settings) as http:
        gh = await http.post(
            "/webhook/triggers/connect/github/gh",
            content=gh_body,
            headers=test_github.sign(gh_body, secret="gh-secret", event="issues"),
        )
        ping = await http.post(
            "/webhook/triggers/connect/github/gh",
            content=b'{"zen":"x"}',
            headers=test_github.sign(b'{"zen":"x"}', secret="gh-secret", event="ping"),
        )
        st = await http.post(
            "/webhook/triggers/connect/stripe/st",
            content=st_body,
            headers=test_stripe.sign(st_body, secret="whsec_abc", now=int(time.time())),
        )
    assert (gh.status_code, ping.status_code, st.status_code) == (200, 200, 200)
    assert await redis.xlen(KEYS.ingest) == 2  # the ping is answered, not stored
    await make_worker(redis, registry).run_once()
    [gh_job] = await jobs(redis, "wf-gh")
    [st_job] = await jobs(redis, "wf-st")
    assert gh_job[b"delivery_id"] == test_github.DELIVERY.encode() and st_job[b"delivery_id"] == b"evt_1"


async def test_stored_headers_exclude_signatures(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        await post_slack(http, slack_event(), **{"x-slack-retry-num": "1"})
    [fields] = await entries(redis, KEYS.ingest)
    stored = json.loads(IngestEvent.from_fields({k.decode(): v for k, v in fields.items()}).headers)
    assert stored["x-slack-retry-num"] == "1" and stored["content-type"] == "application/json"
    assert not any("signature" in name for name in stored)
    assert not any(b"signature" in value for value in fields.values())


async def test_registry_changes_reach_the_receiver_within_a_second(settings: Settings, seed: Seed) -> None:
    async with running(settings) as http:
        before = await post_slack(http, slack_event())
        await seed_slack(seed)
        started = time.monotonic()
        while (await post_slack(http, slack_event())).status_code != 200:
            assert time.monotonic() - started < 1.0, "registry change not seen within 1 s"
            await asyncio.sleep(0.01)  # in-process transport: give the refresher a turn, as a network would
    assert before.status_code == 404


async def test_admin_api_requires_the_bearer_token(settings: Settings, seed: Seed, redis_url: str) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        none = await http.get("/api/events")
        wrong = await http.get("/api/events", headers={"authorization": "Bearer nope"})
        event_id = (await post_slack(http, slack_event())).json()["ids"][0]
        right = await http.get(f"/api/events/{event_id}", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
        integrations = await http.get("/api/integrations", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert none.status_code == 401 and wrong.status_code == 401
    assert right.status_code == 200 and right.json()["provider_id"] == TEAM
    assert right.json()["routing"] == {"status": "received"}
    assert integrations.json()["data"][0]["secrets_count"] == 1
    assert SLACK_SECRET not in integrations.text
    async with running(make_settings(redis_url, admin_token=None)) as http:
        off = await http.get("/api/events", headers={"authorization": f"Bearer {ADMIN_TOKEN}"})
    assert legacy(off.json()) == {"error": "admin_api_disabled"}


async def test_a_user_level_url_accepts_its_own_subscription_secret_only(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    from subscriptions.keys import LifecycleKeys
    from subscriptions.lifecycle_state import StateStore, SubscriptionState
    from tests.verifiers import test_microsoft_graph

    await seed(
        integration=[{"id": "od", "type": "onedrive"}],
        user=[{"id": "u1"}, {"id": "u2"}],
        credential=[{"id": "c1", "user": "u1", "integration": "od"}, {"id": "c2", "user": "u2", "integration": "od"}],
    )
    states = StateStore(redis, registry.box, LifecycleKeys())
    await states.save(
        SubscriptionState(
            credential="c1", integration="od", spec_key="graph", status="active", secret="client-state-of-c1"
        )
    )
    body = json.dumps({"value": [test_microsoft_graph.notification("client-state-of-c1")]}).encode()
    async with running(settings) as http:
        own = await http.post("/webhook/triggers/connect/onedrive/od?id=c1", content=body)
        other = await http.post("/webhook/triggers/connect/onedrive/od?id=c2", content=body)
        app_level = await http.post("/webhook/triggers/connect/onedrive/od", content=body)
    assert own.status_code == 200
    assert other.status_code == 401 and app_level.status_code == 401


async def test_a_polled_integration_takes_no_webhooks(redis_url: str, seed: Seed) -> None:
    await seed(integration=[{"id": "sf-app", "type": "salesforce"}])
    async with running(make_settings(redis_url)) as http:
        response = await http.post("/webhook/triggers/connect/salesforce/sf-app", content=b"{}")
    assert response.status_code == 404
    assert "no_webhooks" in response.text


# ASGI servers hand header names over lower-cased (the ASGI spec): the only names a receiver sees.
header_names = st.sampled_from([b"x-slack-signature", b"content-length", b"content-type", b"x-a"])


@given(st.lists(st.tuples(header_names, st.binary(max_size=8)), max_size=8))
def test_the_receivers_decoded_headers_answer_as_starlettes_headers_do(raw: list[tuple[bytes, bytes]]) -> None:
    # Repeated names included: the first wins for the verifier, as it did when it read Starlette's Headers.
    decoded = stored_headers.of_request(raw)
    starlette = Headers(raw=raw)
    assert set(decoded) == {name.decode() for name, _ in raw}
    assert all(decoded[name] == starlette.get(name) for name in decoded)
