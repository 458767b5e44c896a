"""Workflow Permissions and Workflow Enabled by Default, end to end: a signed webhook in, then a trigger job for
the users the workflow is for and a recorded refusal for the others."""

from __future__ import annotations

from typing import Any

import pytest
from redis.asyncio import Redis

from router.settings import Settings
from subscriptions.registry import Registry
from tests.router.conftest import SLACK_SECRET, TEAM, Seed, make_worker, running
from tests.router.record_support import BASE, OPERATOR
from tests.router.test_ingest import jobs, outcome, post_slack, slack_event

pytestmark = pytest.mark.anyio

PRO_ONLY = [{"field": "plan", "operator": "in", "value": ["pro", "enterprise"]}]


async def seed_users(seed: Seed, *, workflow: dict[str, Any], activate: bool = True, **more: Any) -> None:
    """A Slack integration; u1 on the pro plan and u2 on the free plan, each with a credential on TEAM."""
    users = {"u1": {"plan": "pro"}, "u2": {"plan": "free"}}
    await seed(
        project=[{"id": "p1"}],
        integration=[{"id": "slack-app", "type": "slack", "secrets": [SLACK_SECRET]}],
        user=[{"id": u, "metadata": m} for u, m in users.items()],
        credential=[{"id": f"cred-{u}", "user": u, "integration": "slack-app", "provider_id": TEAM} for u in users],
        workflow=[{"id": "wf-1", "integration": "slack-app", **workflow}],
        activate=[("wf-1", u) for u in users] if activate else [],
        **more,
    )


async def route_one(settings: Settings, redis: Redis, registry: Registry) -> dict[str, object]:
    async with running(settings) as http:
        response = await post_slack(http, slack_event())
    assert response.status_code == 200
    assert await make_worker(redis, registry).run_once() == 1
    return await outcome(redis, response.json()["ids"][0])


async def test_a_user_whose_metadata_fails_the_permissions_is_not_triggered_and_the_refusal_is_recorded(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_users(seed, workflow={"permissions": PRO_ONLY})
    result = await route_one(settings, redis, registry)
    assert [j[b"user"] for j in await jobs(redis)] == [b"u1"]
    assert result["status"] == "matched" and result["skipped"] == {"workflow_permission_denied": 1}


async def test_nobody_permitted_marks_the_event_with_the_reason(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_users(seed, workflow={"permissions": [{"field": "plan", "operator": "equals", "value": "none"}]})
    result = await route_one(settings, redis, registry)
    assert await jobs(redis) == []
    assert result == {"status": "no_workflow", "jobs": [], "skipped": {"workflow_permission_denied": 2}}


async def test_changed_metadata_is_honoured_on_the_next_event(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_users(seed, workflow={"permissions": PRO_ONLY})
    await seed(user=[{"id": "u2", "metadata": {"plan": "enterprise"}}])
    result = await route_one(settings, redis, registry)
    assert sorted(j[b"user"] for j in await jobs(redis)) == [b"u1", b"u2"] and result["skipped"] == {}


async def test_enabled_by_default_reaches_users_without_an_activation_unless_one_disables_it(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_users(
        seed,
        workflow={"enabled_by_default": True},
        activate=False,
        activation=[{"id": "wf-1:u2", "workflow": "wf-1", "user": "u2", "enabled": False}],
    )
    result = await route_one(settings, redis, registry)
    assert [j[b"user"] for j in await jobs(redis)] == [b"u1"]
    assert result["skipped"] == {"workflow_not_activated": 1}


async def test_without_the_default_a_user_needs_an_activation(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_users(seed, workflow={}, activate=False)
    result = await route_one(settings, redis, registry)
    assert await jobs(redis) == [] and result["skipped"] == {"workflow_not_activated": 2}


async def test_permissions_still_apply_to_a_default_enabled_workflow(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_users(seed, workflow={"enabled_by_default": True, "permissions": PRO_ONLY}, activate=False)
    result = await route_one(settings, redis, registry)
    assert [j[b"user"] for j in await jobs(redis)] == [b"u1"]
    assert result["skipped"] == {"workflow_permission_denied": 1}


async def test_the_records_api_writes_reads_and_validates_the_fields(settings: Settings, seed: Seed) -> None:
    await seed_users(seed, workflow={})
    url = f"{BASE}/workflows/wf-1"
    async with running(settings) as http:
        patched = await http.patch(url, json={"permissions": PRO_ONLY, "enabled_by_default": True}, headers=OPERATOR)
        assert patched.status_code == 200, patched.text
        read = (await http.get(url, headers=OPERATOR)).json()
        assert read["permissions"] == PRO_ONLY and read["enabled_by_default"] is True
        bad = await http.patch(
            url,
            json={"permissions": [{"field": "seats", "operator": "greater_than", "value": "ten"}]},
            headers=OPERATOR,
        )
        assert bad.status_code == 422, bad.text
        assert "permissions" in bad.text and "compares numbers" in bad.text
