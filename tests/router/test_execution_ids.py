"""One execution id from ingress to Task History to workflow_failure, end to end over HTTP: the id a Request
trigger's 202 or 542 answers is the one Task History and /api/executions answer to at once, the one a runner
holds, and the one its workflow_failure event carries (platform-api.md §2.3: "You can use this ID to retrieve
results using the Task History API")."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

import pytest
from redis.asyncio import Redis

from router.delivery.runner import RunnerClient
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, Seed, make_settings, make_worker, running
from tests.router.sdk_support import PROJECT, bearer, seed_project
from tests.router.test_notify_producers import bridge, events
from tests.router.test_request_triggers import route_all, seed_request_workflows, url
from tests.router.test_task_history import key

pytestmark = pytest.mark.anyio
KEYS = Keys()
OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def history(execution_id: str, project: str = PROJECT) -> str:
    return f"/projects/{project}/task-history/workflow-executions/{quote(execution_id, safe='')}"


@pytest.fixture
async def seeded(seed: Seed, registry: Registry) -> None:
    await seed_project(registry)
    await seed_request_workflows(seed)
    await seed(project=[{"id": "p2"}])


async def test_the_202_execution_id_is_found_in_task_history_at_once_and_in_workflow_failure(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    auth = await key(redis, f"project:{PROJECT}:read")
    async with running(settings) as http:
        accepted = await http.post(url("wf-fire"), json={"email": "b@example.com"}, headers=bearer())
        assert accepted.status_code == 202
        execution_id = accepted.json()["executionId"]
        # Not routed yet: the execution is known all the same, as running.
        now = await http.get(history(execution_id), headers=auth)
        assert now.status_code == 200
        run = now.json()
        assert run["id"] == execution_id and run["status"] == "EXECUTING"
        assert run["userId"] == "u1" and run["workflowId"] == "wf-fire" and run["stepExecutions"] == []
        assert run["dateEnded"] is None and run["runDuration"] is None
        admin = await http.get(f"/api/executions/{execution_id}", headers=OPERATOR)
        assert admin.status_code == 200 and admin.json()["status"] == "EXECUTING"
        assert admin.json()["credentialId"] == "cred-slack-a"
        assert (
            await http.get(history(execution_id, "p2"), headers=await key(redis, "project:p2:read"))
        ).status_code == 404

        runner = RunnerClient(redis, KEYS, "wf-fire", "runner-1")
        await route_all(make_worker(redis, registry))
        [job] = await runner.read(block_ms=10)
        assert job.execution_id == execution_id == job.job_id  # what the runner holds is the same id
        routed = await http.get(history(execution_id), headers=auth)
        assert routed.status_code == 200 and routed.json()["status"] == "EXECUTING"
        listed = (await http.get(f"/projects/{PROJECT}/task-history/workflow-executions", headers=auth)).json()
        assert [e["id"] for e in listed["workflowExecutions"]] == [execution_id]

        await runner.report_failure(job, "Test error message", step_id="step-3")
        assert (await http.get(history(execution_id), headers=auth)).json()["status"] == "FAILED"
    assert await (await bridge(redis, registry)).step() == 1
    [failure] = await events(redis, "workflow_failure")
    assert failure["data"]["workflowExecution"] == {"id": execution_id}


async def test_the_542_execution_id_is_found_in_task_history(
    redis_url: str, seeded: None, redis: Redis, registry: Registry
) -> None:
    auth = await key(redis, f"project:{PROJECT}:read")
    async with running(make_settings(redis_url, request_trigger_timeout_s=0.2)) as http:
        timed_out = await http.post(url("wf-answer"), json={"a": 1}, headers=bearer())
        assert timed_out.status_code == 542
        execution_id = timed_out.json()["executionId"]
        found = await http.get(history(execution_id), headers=auth)
        assert found.status_code == 200
        assert found.json()["status"] == "EXECUTING" and found.json()["workflowId"] == "wf-answer"
        await route_all(make_worker(redis, registry))
        assert (await http.get(history(execution_id), headers=auth)).json()["id"] == execution_id


async def test_a_response_keyed_by_the_execution_id_reaches_the_caller(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    # The caller waits on the id it will be given; the runner answers on the id its job carries: the same.
    async with running(settings) as http:
        call = asyncio.create_task(http.post(url("wf-answer"), json={}, headers=bearer()))
        runner = RunnerClient(redis, KEYS, "wf-answer", "runner-1")
        await route_all(make_worker(redis, registry))
        [job] = await runner.read(block_ms=10)
        await runner.respond(job.execution_id, status=200, body={"id": job.job_id})
        answer = await asyncio.wait_for(call, 10)
    assert answer.status_code == 200 and answer.json() == {"id": job.job_id}


async def test_an_id_no_call_was_given_is_not_found(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    auth = await key(redis, f"project:{PROJECT}:read")
    async with running(settings) as http:
        accepted = (await http.post(url("wf-fire"), json={}, headers=bearer())).json()["executionId"]
        event_id = accepted.split(":")[0]
        # Another credential's job of the same stored call, and a job of a workflow it did not call: unknown.
        for forged in (f"{event_id}:wf-fire:cred-slack-b", f"{event_id}:wf-answer:cred-slack-a", f"{event_id}:x"):
            assert (await http.get(history(forged), headers=auth)).status_code == 404
        # Once routed, the index answers: a call routing made no job of is not shown as running for ever.
        wf: Any = await registry.get("workflow", "wf-fire")
        await registry.put(wf.model_copy(update={"deployed": False}))
        await route_all(make_worker(redis, registry))
        assert (await http.get(history(accepted), headers=auth)).status_code == 404
    [outcome] = (await redis.hgetall(KEYS.outcomes)).values()
    assert b'"jobs":[]' in outcome


async def test_a_failure_reported_over_http_by_that_id_is_the_executions(
    redis_url: str, seeded: None, redis: Redis, registry: Registry
) -> None:
    auth = await key(redis, f"project:{PROJECT}:read")
    settings = make_settings(redis_url, public_url="https://hooks.example.com")
    report = {"workflow": "wf-fire", "user": "u1", "error": "Test error message"}
    async with running(settings) as http:
        execution_id = (await http.post(url("wf-fire"), json={}, headers=bearer())).json()["executionId"]
        await route_all(make_worker(redis, registry))
        # Another workflow's report naming this id does not touch it.
        other = await http.post(
            f"/api/executions/{execution_id}/failure", json={**report, "workflow": "wf-answer"}, headers=OPERATOR
        )
        assert other.status_code == 202
        assert (await http.get(history(execution_id), headers=auth)).json()["status"] == "EXECUTING"
        reported = await http.post(f"/api/executions/{execution_id}/failure", json=report, headers=OPERATOR)
        assert reported.status_code == 202 and reported.json()["execution_id"] == execution_id
        run = (await http.get(history(execution_id), headers=auth)).json()
        assert run["status"] == "FAILED"  # the report is tied to the execution it names
    assert await (await bridge(redis, registry, execution_url_template="", public_url=settings.public_url)).step() == 2
    unrelated, failure = await events(redis, "workflow_failure")
    assert failure["data"]["workflowExecution"] == {"id": execution_id}
    assert failure["data"]["executionUrl"] == "https://hooks.example.com" + history(execution_id)
    assert failure["data"]["stepExecution"]["startTime"] == int(execution_id.split("-")[0])  # the call's arrival
    assert unrelated["data"]["executionUrl"] is None  # not an execution of wf-answer: nothing to link
