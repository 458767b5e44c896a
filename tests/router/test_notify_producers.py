from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from router.admin.runner_reports import REPORT_BODY_BYTES, Invalidated, Reported
from router.delivery.runner import Job, RunnerClient
from router.notifications.events import Notifier
from router.notifications.producers import (
    BridgeConfig,
    BurstDetector,
    CredentialWatch,
    ExecutionsBridge,
    Fact,
    Producers,
    Transitions,
)
from router.runtime.supervisor import Supervisor, Task
from router.settings import Settings
from router.storage.entries import TriggerJob
from router.storage.keys import NOTIFY_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.models import Credential, Project
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import ADMIN_TOKEN, SLACK_URL, Seed, make_settings, running, seed_slack, xrange_all
from tests.router.operation_support import body_name, component, openapi, operation, parameters, schema_name
from tests.router.problem_support import legacy
from tests.router.waiting import eventually
from tests.verifiers import test_slack

pytestmark = pytest.mark.anyio
KEYS = Keys()
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
URL_TEMPLATE = "https://dashboard.example.com/executions/{execution_id}?wf={workflow_id}"


# -- helpers ---------------------------------------------------------------------------------------------------


async def seed_world(registry: Registry, seed: Seed, *, cred_status: str = "VALID") -> None:
    """Project p1 "Test Project Name", Slack integration, user u1 with metadata, credential, workflow wf-1."""
    await registry.put(Project(id="p1", name="Test Project Name"))
    await seed_slack(seed)
    await seed(user=[{"id": "u1", "metadata": {"email": "u1@example.com"}}])
    if cred_status != "VALID":
        await seed(credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "status": cred_status}])


async def events(redis: Redis, kind: str | None = None) -> list[dict[str, Any]]:
    out = [json.loads(fields[b"event"]) for _, fields in await xrange_all(redis, KEYS.notifications)]
    return [e for e in out if kind is None or e["type"] == kind]


def notifier(redis: Redis, group: str = NOTIFY_GROUP) -> Notifier:
    return Notifier(EventStore(redis, maxlen=10_000, group=group, consumer="t"), KEYS)


async def bridge(redis: Redis, registry: Registry, **config: Any) -> ExecutionsBridge:
    cache = SnapshotCache(registry)
    await cache.refresh()
    store = EventStore(redis, maxlen=10_000, group=NOTIFY_GROUP, consumer="t")
    cfg = BridgeConfig(**{"execution_url_template": URL_TEMPLATE, "block_ms": 10, **config})
    return ExecutionsBridge(store, Notifier(store, KEYS), lambda: cache.current, KEYS, cfg)


def assert_stamp(event: dict[str, Any]) -> None:
    ms = event["timestamp"]
    assert isinstance(ms, int) and abs(ms - time.time() * 1000) < 60_000
    iso = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    assert event["timestampISO"] == iso


def assert_workflow_failure(event: dict[str, Any], *, execution_id: str, error: str, step: dict[str, Any]) -> None:
    """Every field of platform-api.md §3.8's workflow_failure, with our registry's names."""
    assert set(event) == {
        "type", "timestamp", "timestampISO", "message", "user", "project", "integration", "workflow", "data",
    }  # fmt: skip
    assert event["type"] == "workflow_failure"
    assert_stamp(event)
    assert event["message"] == "Workflow \u201cOn message\u201c failed for User u1"
    assert event["user"] == {"id": "u1", "metadata": {"email": "u1@example.com"}}
    assert event["project"] == {"id": "p1", "name": "Test Project Name"}
    assert event["integration"] == {"id": "slack-app", "type": "slack"}
    assert event["workflow"] == {"id": "wf-1", "name": "On message"}
    assert event["data"] == {
        "type": "workflow_failure",
        "projectId": "p1",
        "workflowId": "wf-1",
        "workflowExecution": {"id": execution_id},
        "stepExecution": step,
        "timestamp": event["timestamp"],
        "error": error,
        "executionUrl": f"https://dashboard.example.com/executions/{execution_id}?wf=wf-1",
    }


def assert_credentials_failure(event: dict[str, Any], *, error: str) -> None:
    assert set(event) == {"type", "timestamp", "timestampISO", "message", "user", "project", "integration", "data"}
    assert event["type"] == "credentials_failure"
    assert_stamp(event)
    assert event["message"] == "Connected User \u201cu1\u201c credential for slack expired and can not be refreshed."
    assert event["user"] == {"id": "u1", "metadata": {"email": "u1@example.com"}}
    assert event["project"] == {"id": "p1", "name": "Test Project Name"}
    assert event["integration"] == {"id": "slack-app", "type": "slack"}
    assert event["data"] == {"userId": "u1", "error": error}


# -- workflow_failure ------------------------------------------------------------------------------------------


async def test_runner_failure_report_becomes_one_workflow_failure(redis: Redis, registry: Registry, seed: Seed) -> None:
    await seed_world(registry, seed)
    runner = RunnerClient(redis, KEYS, "wf-1", "runner-1")
    job = Job(
        "1-0", TriggerJob(event_id="", job_id="j1", workflow="wf-1", project="p1", user="u1", execution_id="exec-1")
    )
    await runner.report_success(job)  # successes are acked without an event
    await runner.report_failure(job, "Test error message", step_id="step-1", instance_id="inst-1")
    b = await bridge(redis, registry)
    assert await b.step() == 2
    assert await b.step() == 0  # acked: nothing is handed out again
    [event] = await events(redis)
    # Times the runner did not report: it failed when it reported; no event id, so it started then too.
    at = event["timestamp"]
    step = {"stepId": "step-1", "instanceId": "inst-1", "startTime": at, "endTime": at}
    assert_workflow_failure(event, execution_id="exec-1", error="Test error message", step=step)
    pending = await redis.xpending(KEYS.executions, NOTIFY_GROUP)
    assert pending["pending"] == 0


async def test_a_report_is_notified_again_if_the_bridge_died_before_acking(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    job = Job("1-0", TriggerJob(event_id="", workflow="wf-1", project="p1", user="u1", execution_id="exec-2"))
    await RunnerClient(redis, KEYS, "wf-1", "r").report_failure(job, "boom")
    store = EventStore(redis, maxlen=10_000, group=NOTIFY_GROUP, consumer="dead")
    await store.ensure_group(KEYS.executions)
    await store.read_new(KEYS.executions, count=10, block_ms=10)  # taken, never acked
    b = await bridge(redis, registry, claim_idle_ms=1)
    await asyncio.sleep(0.01)
    assert await b.step() == 1
    assert len(await events(redis, "workflow_failure")) == 1


async def test_old_reports_are_acked_without_a_notification(redis: Redis, registry: Registry, seed: Seed) -> None:
    await seed_world(registry, seed)
    job = Job("1-0", TriggerJob(event_id="", workflow="wf-1", project="p1", user="u1"))
    await RunnerClient(redis, KEYS, "wf-1", "r").report_failure(job, "long ago")
    await asyncio.sleep(1.1)
    b = await bridge(redis, registry, max_age_s=1)
    assert await b.step() == 1
    assert await events(redis) == []


async def test_http_failure_report_takes_the_runner_path(
    settings: Settings, redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    body = {"workflow": "wf-1", "user": "u1", "error": "Test error message", "step": {"stepId": "s1"}}
    async with running(settings) as http:
        accepted = await http.post("/api/executions/exec-9/failure", json=body, headers=AUTH)
        unauthorised = await http.post("/api/executions/exec-9/failure", json=body)
        unknown = await http.post("/api/executions/exec-9/failure", json={**body, "workflow": "nope"}, headers=AUTH)
    assert accepted.status_code == 202 and accepted.json()["execution_id"] == "exec-9"
    assert unauthorised.status_code == 401
    assert unknown.status_code == 404 and legacy(unknown.json()) == {"error": "unknown_workflow"}
    [(_, record)] = await xrange_all(redis, KEYS.executions)
    assert record[b"integration_type"] == b"slack" and record[b"execution_id"] == b"exec-9"
    assert await (await bridge(redis, registry)).step() == 1
    [event] = await events(redis)
    at = event["timestamp"]
    step = {"stepId": "s1", "instanceId": "s1", "startTime": at, "endTime": at}
    assert_workflow_failure(event, execution_id="exec-9", error="Test error message", step=step)


async def test_step_times_are_the_ones_the_runner_reported(redis: Redis, registry: Registry, seed: Seed) -> None:
    await seed_world(registry, seed)
    job = Job("1-0", TriggerJob(event_id="1729629640000-0", workflow="wf-1", project="p1", user="u1", execution_id="e"))
    runner = RunnerClient(redis, KEYS, "wf-1", "r")
    await runner.report_failure(job, "x", step_id="s", started_ms=1729629642606, ended_ms=1729629642700)
    await runner.report_failure(job, "y", step_id="s")  # unreported: from the event's arrival to the report
    b = await bridge(redis, registry)
    assert await b.step() == 2
    reported, known = (e["data"] for e in await events(redis))
    assert reported["stepExecution"] == {
        "stepId": "s", "instanceId": "s", "startTime": 1729629642606, "endTime": 1729629642700,
    }  # fmt: skip
    assert known["stepExecution"] == {
        "stepId": "s", "instanceId": "s", "startTime": 1729629640000, "endTime": known["timestamp"],
    }  # fmt: skip


async def test_http_failure_report_carries_the_step_times(
    settings: Settings, redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    step = {"stepId": "3507a59f", "instanceId": "45ab5c3d", "startTime": 1729629642606, "endTime": 1729629642606}
    body = {"workflow": "wf-1", "user": "u1", "error": "Test error message", "step": step}
    async with running(settings) as http:
        accepted = await http.post("/api/executions/exec-7/failure", json=body, headers=AUTH)
        negative = await http.post(
            "/api/executions/exec-7/failure", json={**body, "step": {**step, "endTime": -1}}, headers=AUTH
        )
    assert accepted.status_code == 202
    assert negative.status_code == 422 and negative.json()["errors"][0]["field"] == "step.endTime"
    assert await (await bridge(redis, registry)).step() == 1
    [event] = await events(redis)
    assert_workflow_failure(event, execution_id="exec-7", error="Test error message", step=step)


# platform-api.md §3.8, verbatim.
REFERENCE_WORKFLOW_FAILURE = json.loads("""{
  "type": "workflow_failure",
  "timestamp": 1729629642607,
  "timestampISO": "2024-10-22T20:40:42.607Z",
  "message": "Workflow \u201cTest Workflow Name\u201c failed for User <User ID>",
  "user": {"id": "<User ID>", "metadata": {}},
  "project": {"id": "613b038f-e9bf-49ec-bc58-ba8d620754c7", "name": "Test Project Name"},
  "integration": {"id": "57a96b31-c69e-421a-bb32-7a25f9c6a893", "type": "slack"},
  "workflow": {"id": "cae72d65-7fc6-4249-9047-48fc640bfd46", "name": "Test Workflow Name"},
  "data": {
    "type": "workflow_failure",
    "projectId": "613b038f-e9bf-49ec-bc58-ba8d620754c7",
    "workflowId": "cae72d65-7fc6-4249-9047-48fc640bfd46",
    "workflowExecution": {"id": "07911c9b-2006-4348-938b-b7ebac94dc1f"},
    "stepExecution": {
      "stepId": "3507a59f-d552-45a5-8bca-ed5315111ca0",
      "instanceId": "45ab5c3d-5ad3-46a0-9b79-692b4c06520d",
      "startTime": 1729629642606,
      "endTime": 1729629642606
    },
    "timestamp": 1729629642606,
    "error": "Test error message",
    "executionUrl": "https://dashboard.useparagon.com/connect/projects/613b038f-e9bf-49ec-bc58-ba8d620754c7/history/workflows/cae72d65-7fc6-4249-9047-48fc640bfd46/executions/07911c9b-2006-4348-938b-b7ebac94dc1f"
  }
}""")


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively: what a consumer written against the reference relies on (a user's
    metadata is theirs: only its type counts)."""
    if isinstance(value, dict):
        return {k: "dict" if k == "metadata" else shape(v) for k, v in value.items()}
    return type(value).__name__


async def test_the_event_and_the_test_sample_have_the_references_shape(
    settings: Settings, redis: Redis, registry: Registry, seed: Seed
) -> None:
    from router.notifications.destinations import SAMPLE_EVENT

    await seed_world(registry, seed)
    job = Job("1-0", TriggerJob(event_id="1-0", job_id="1-0:wf-1:c", workflow="wf-1", project="p1", user="u1"))
    await RunnerClient(redis, KEYS, "wf-1", "r").report_failure(job, "Test error message", step_id="s", instance_id="i")
    b = await bridge(redis, registry, execution_url_template="", public_url=settings.public_url)
    assert await b.step() == 1
    [event] = await events(redis)
    expected = shape(REFERENCE_WORKFLOW_FAILURE)
    assert shape(event) == expected and shape(SAMPLE_EVENT) == expected
    history = "/projects/p1/task-history/workflow-executions/1-0%3Awf-1%3Ac"
    assert event["data"]["executionUrl"] == f"http://hooks.test{history}"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"public_url": "https://hooks.example.com/"},
            "https://hooks.example.com/projects/p1/task-history/workflow-executions/1-0%3Awf-1%3Ac1",
        ),
        (
            {"public_url": "https://hooks.example.com", "execution_url_template": "https://d.example/{job_id}"},
            "https://d.example/1-0%3Awf-1%3Ac1",
        ),
        ({}, None),
    ],
)
async def test_execution_url_without_a_template(
    redis: Redis, registry: Registry, seed: Seed, config: dict[str, str], expected: str | None
) -> None:
    await seed_world(registry, seed)
    job = Job("1-0", TriggerJob(event_id="1-0", job_id="1-0:wf-1:c1", workflow="wf-1", project="p1", user="u1"))
    await RunnerClient(redis, KEYS, "wf-1", "r").report_failure(job, "boom")
    b = await bridge(redis, registry, **{"execution_url_template": "", **config})
    assert await b.step() == 1
    [event] = await events(redis)
    assert event["data"]["executionUrl"] == expected


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        ("exec-1", b"not json", 422, ["JSON decode error"]),
        ("exec-1", b"[]", 422, ["body: Input should be a valid dictionary"]),
        ("exec-1", b"{}", 422, ["workflow: Field required", "user: Field required", "error: Field required"]),
        (
            "exec-1",
            b'{"workflow": "wf-1", "user": "u 1", "error": "", "step": {"instanceId": "i"}, "extra": 1}',
            422,
            [
                "user: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$'",
                "error: String should have at least 1 character",
                "step.stepId: Field required",
                "extra: Extra inputs are not permitted",
            ],
        ),
        ("-bad", b'{"workflow": "wf-1", "user": "u1", "error": "x"}', 400, ["execution_id: "]),
        ("-bad", b'{"workflow": "wf-1", "user": "u1"}', 422, ["execution_id: ", "error: Field required"]),
    ],
)
async def test_bad_failure_reports_are_refused_listing_every_problem(
    settings: Settings,
    redis: Redis,
    registry: Registry,
    seed: Seed,
    path: str,
    body: bytes,
    status: int,
    expected: list[str],
) -> None:
    # A body that fails its model is 422 invalid_body (with every problem, the path's too); a bad path alone, 400.
    await seed_world(registry, seed)
    async with running(settings) as http:
        reply = await http.post(f"/api/executions/{path}/failure", content=body, headers=AUTH)
    assert reply.status_code == status
    assert reply.json()["code"] == ("invalid_body" if status == 422 else "bad_parameter")
    problems = [f"{e['field']}: {e['message']}" for e in reply.json()["errors"]]
    assert len(problems) == len(expected)
    assert all(e in p for p, e in zip(problems, expected, strict=True)), problems
    if status == 422:
        assert reply.json()["problems"] == problems  # the member clients read before
    assert await redis.exists(KEYS.executions) == 0


# -- credentials_failure ---------------------------------------------------------------------------------------


async def test_the_schema_documents_the_runner_reports_and_their_answers_match_it(
    settings: Settings, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    report = {"workflow": "wf-1", "user": "u1", "error": "boom", "step": {"stepId": "s1", "instanceId": "i1"}}
    async with running(settings) as http:
        document = await openapi(http)
        reported = await http.post("/api/executions/exec-1/failure", json=report, headers=AUTH)
        invalidated = await http.post("/api/credentials/cred-u1/invalidate", json={"error": "e"}, headers=AUTH)
        again = await http.post("/api/credentials/cred-u1/invalidate", json={"error": "e"}, headers=AUTH)
        # A report may carry its steps' inputs and outputs: its bound is REPORT_BODY_BYTES.
        huge = {**report, "error": "x" * (REPORT_BODY_BYTES + 1)}
        too_large = await http.post("/api/executions/exec-1/failure", json=huge)
        too_large_too = await http.post("/api/executions/exec-1/failure", json=huge, headers=AUTH)
        invalidation_too_large = await http.post(
            "/api/credentials/cred-u1/invalidate", json={"error": "x" * 70_000}, headers=AUTH
        )
    failure = operation(document, "POST", "/executions/{execution_id}/failure")
    execution_id = parameters(failure)["execution_id"]
    assert execution_id["in"] == "path" and execution_id["schema"]["pattern"]
    assert body_name(failure) == "FailureReport" and schema_name(failure, 202) == "Reported"
    assert set(component(document, "FailureReport")["required"]) == {"workflow", "user", "error"}
    assert set(component(document, "StepRef")["properties"]) == {"stepId", "instanceId", "startTime", "endTime"}
    invalidate = operation(document, "POST", "/credentials/{credential_id}/invalidate")
    assert list(parameters(invalidate)) == ["credential_id"]
    assert body_name(invalidate) == "Invalidation" and schema_name(invalidate, 200) == "Invalidated"
    assert schema_name(failure, 413) == schema_name(invalidate, 413) == "Problem"
    assert reported.status_code == 202 and Reported.model_validate(reported.json()).execution_id == "exec-1"
    assert Invalidated.model_validate(invalidated.json()).change == "updated"
    assert Invalidated.model_validate(again.json()).change == "unchanged"
    assert too_large.status_code == 401  # who is calling is settled before the body is read
    assert too_large_too.status_code == 413 and too_large_too.json()["code"] == "body_too_large"
    assert invalidation_too_large.status_code == 413  # an invalidation stays within 64 KiB


async def test_invalidate_marks_invalid_and_notifies_once(
    settings: Settings, redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    watch = CredentialWatch(Transitions(redis, KEYS), notifier(redis))
    cache = SnapshotCache(registry)
    assert await watch.observe(await cache.refresh()) == 0  # a worker watching all along
    async with running(settings) as http:
        url = "/api/credentials/cred-u1/invalidate"
        first = await http.post(url, json={"error": "invalid_grant"}, headers=AUTH)
        again = await http.post(url, json={"error": "invalid_grant"}, headers=AUTH)
        unauthorised = await http.post(url, json={"error": "invalid_grant"})
        missing = await http.post("/api/credentials/nope/invalidate", json={"error": "x"}, headers=AUTH)
        bad = await http.post(url, json={}, headers=AUTH)
    assert first.json() == {"credential": "cred-u1", "status": "INVALID", "change": "updated"}
    assert again.json()["change"] == "unchanged"
    assert unauthorised.status_code == 401 and missing.status_code == 404
    assert bad.status_code == 422 and bad.json()["problems"] == ["error: Field required"]
    stored = await registry.get("credential", "cred-u1")
    assert isinstance(stored, Credential) and stored.status == "INVALID"
    assert await watch.observe(await cache.refresh()) == 0  # the worker sees the change: already notified
    [event] = await events(redis)
    assert_credentials_failure(event, error="invalid_grant")


async def test_a_watch_that_wins_the_race_notifies_with_the_requests_reason(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    transitions = Transitions(redis, KEYS)
    watch = CredentialWatch(transitions, notifier(redis))
    cache = SnapshotCache(registry)
    await watch.observe(await cache.refresh())
    await transitions.set_reason("cred-u1", "invalid_grant")  # what the endpoint does before its put
    await seed(credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "status": "INVALID"}])
    assert await watch.observe(await cache.refresh()) == 1
    [event] = await events(redis)
    assert_credentials_failure(event, error="invalid_grant")


async def test_apply_driven_invalidation_is_notified_once_by_racing_watchers(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    caches = [SnapshotCache(registry), SnapshotCache(registry)]
    watches = [CredentialWatch(Transitions(redis, KEYS), notifier(redis)) for _ in caches]
    for watch, cache in zip(watches, caches, strict=True):
        assert await watch.observe(await cache.refresh()) == 0
    invalid = {"id": "cred-u1", "user": "u1", "integration": "slack-app", "status": "INVALID"}
    await seed(credential=[invalid])
    await caches[0].refresh()
    await seed(project=[], user=[{"id": "u2"}])  # another change lands before the second watcher polls
    await caches[1].refresh()
    assert caches[0].current.version != caches[1].current.version  # they see the change at different versions
    emitted = await asyncio.gather(*(w.observe(c.current) for w, c in zip(watches, caches, strict=True)))
    assert sum(emitted) == 1
    [event] = await events(redis)
    assert_credentials_failure(event, error="marked_invalid")
    # A lagging worker replaying an older VALID snapshot cannot re-arm the transition.
    assert await Transitions(redis, KEYS).record([Fact("cred-u1", "VALID", 1)]) == []
    late = CredentialWatch(Transitions(redis, KEYS), notifier(redis))  # a worker that starts now
    assert await late.observe(caches[1].current) == 0
    # Valid again, then invalid again: a new transition, one more event.
    await seed(credential=[{**invalid, "status": "VALID"}])
    for watch, cache in zip(watches, caches, strict=True):
        await watch.observe(await cache.refresh())
    await seed(credential=[invalid])
    snapshots = [await c.refresh() for c in caches]
    emitted = await asyncio.gather(*(w.observe(s) for w, s in zip(watches, snapshots, strict=True)))
    assert sum(emitted) == 1 and len(await events(redis)) == 2


async def test_credentials_invalid_from_the_start_notify_nobody(redis: Redis, registry: Registry, seed: Seed) -> None:
    await seed_world(registry, seed, cred_status="INVALID")
    watches = [CredentialWatch(Transitions(redis, KEYS), notifier(redis)) for _ in range(2)]
    snapshot = await SnapshotCache(registry).refresh()
    assert await asyncio.gather(*(w.observe(snapshot) for w in watches)) == [0, 0]
    await seed(user=[{"id": "u2"}])
    snapshot = await SnapshotCache(registry).refresh()
    assert await asyncio.gather(*(w.observe(snapshot) for w in watches)) == [0, 0]
    assert await events(redis) == []


# -- verification_failures -------------------------------------------------------------------------------------


async def _inside_one_minute(seconds_needed: float) -> None:
    """The window is the wall-clock minute: don't start a burst that would straddle two."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        await asyncio.sleep(left + 0.05)


@pytest.mark.parametrize(("forged", "expected"), [(25, 1), (19, 0)])
async def test_forged_webhooks_raise_one_verification_failures_event(
    redis_url: str, redis: Redis, registry: Registry, seed: Seed, forged: int, expected: int
) -> None:
    await seed_world(registry, seed)
    body = b'{"type":"event_callback","team_id":"T0001"}'
    async with running(make_settings(redis_url)) as http:
        await _inside_one_minute(8)
        for _ in range(forged):
            headers = test_slack.sign(body, secret="attacker", now=int(time.time()))
            assert (await http.post(SLACK_URL, content=body, headers=headers)).status_code == 401
    found = await events(redis, "verification_failures")
    assert len(found) == expected
    if expected:
        [event] = found
        assert event["project"] == {"id": "p1", "name": "Test Project Name"}
        assert event["integration"] == {"id": "slack-app", "type": "slack"}
        assert event["message"] == (
            "20 webhooks to integration slack-app failed verification within a minute "
            "(last reason: signature_mismatch): a misconfigured secret or an attack"
        )
        assert event["data"]["count"] == 20 and event["data"]["reasons"] == {"signature_mismatch": 20}
        assert event["data"]["windowStart"] == event["timestamp"] // 60_000 * 60_000
        assert_stamp(event)


async def test_one_event_per_integration_and_minute_however_many_receivers(
    redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    cache = SnapshotCache(registry)
    await cache.refresh()
    detectors = [BurstDetector(redis, KEYS, notifier(redis), lambda: cache.current, threshold=5) for _ in range(3)]
    minute = 1_800_000_000 // 60 * 60
    calls = [d.failed("slack-app", "", "signature_mismatch", minute + 1.5) for d in detectors for _ in range(10)]
    await asyncio.gather(*calls)
    await detectors[0].failed("slack-app", "", "timestamp_out_of_range", minute + 59.9)  # same minute
    await detectors[0].failed("other-app", "p9", "signature_mismatch", minute + 2)  # below its own threshold
    for _ in range(5):
        await detectors[1].failed("slack-app", "", "signature_mismatch", minute + 60)  # the next minute
    found = await events(redis, "verification_failures")
    assert [e["data"]["windowStart"] for e in found] == [minute * 1000, (minute + 60) * 1000]
    assert all(e["project"]["id"] == "p1" and e["data"]["integrationId"] == "slack-app" for e in found)
    assert 0 < await redis.ttl(KEYS.verification_burst("slack-app", minute // 60)) <= 120


async def test_a_burst_detector_without_redis_does_not_raise(registry: Registry) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    cache = SnapshotCache(registry)
    detector = BurstDetector(dead, KEYS, notifier(dead), lambda: cache.current, threshold=1)
    await detector.failed("slack-app", "p1", "signature_mismatch", time.time())
    await dead.aclose()


# -- the workers' share ------------------------------------------------------------------------------------------


async def test_producers_run_the_bridge_and_the_watch_under_a_supervisor(
    redis_url: str, redis: Redis, registry: Registry, seed: Seed
) -> None:
    await seed_world(registry, seed)
    settings = make_settings(redis_url, route_block_ms=10, execution_url_template=URL_TEMPLATE)
    cache = SnapshotCache(registry, refresh_s=0.01)
    await cache.refresh()
    supervisor = Supervisor()
    supervisor.add(Task("registry-refresh", cache.refresh, pause_s=0.01))
    bridge_store = EventStore(redis, maxlen=10_000, group=NOTIFY_GROUP, consumer="t")
    for task in Producers(settings, bridge_store, cache, KEYS, notifier(redis, "routing")).tasks():
        supervisor.add(task)
    supervisor.start()
    job = Job("1-0", TriggerJob(event_id="", workflow="wf-1", project="p1", user="u1", execution_id="e1"))
    await RunnerClient(redis, KEYS, "wf-1", "r").report_failure(job, "boom")

    async def valid_recorded() -> bool:  # the watch has recorded the VALID credential: now it may change
        fact = await redis.hget(KEYS.credential_states, "s|cred-u1")
        return isinstance(fact, bytes) and fact.startswith(b"VALID:")

    await eventually(valid_recorded, what="the watch to record the credential VALID")
    await seed(credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "status": "INVALID"}])

    async def both() -> bool:
        return len(await events(redis)) >= 2

    await eventually(both, what="a workflow_failure and a credentials_failure")
    await asyncio.wait_for(supervisor.stop(), timeout=2)
    assert sorted(e["type"] for e in await events(redis)) == ["credentials_failure", "workflow_failure"]
