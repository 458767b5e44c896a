"""Runner-reported ends, task counts and step executions, shown by Task History in the documented shapes: reported
over the admin API (the platform's own example execution, L2238–2301) and through the Python client."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from redis.asyncio import Redis

from router.delivery.runner import RunnerClient
from router.history.runs import INLINE_BYTES, MAX_STEPS, RunReport, StepExecution
from router.ingress.sdk.responses import iso_ms
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, Seed, make_worker, running, seed_slack
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()
OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}
HISTORY = "/projects/p1/task-history/workflow-executions"
TRIGGER_STEP = "5fec7d78-7e10-4b4a-bdfc-292f629774bf"
REQUEST_STEP = "29e675eb-0910-4d5c-8a5c-a4a4c1895605"


async def one_job(settings: Settings, seed: Seed, redis: Redis, registry: Registry) -> RunnerClient:
    """One Slack event routed to wf-1's stream; the runner client that reads it."""
    await seed_slack(seed)
    async with running(settings) as http:
        assert (await post_slack(http, slack_event())).status_code == 200
    assert await make_worker(redis, registry).run_once() == 1
    return RunnerClient(redis, KEYS, "wf-1", "runner-1")


def documented_steps(started_ms: int) -> list[dict[str, Any]]:
    """The documentation's two step executions (L2247–2276), at times within this execution."""
    return [
        {
            "id": TRIGGER_STEP,
            "stepId": "0f7cce44-d292-4555-bae8-5b904a0c4ac9",
            "status": "SUCCEEDED",
            "type": "TRIGGER/CRON",
            "start": iso_ms(started_ms + 37),
            "end": iso_ms(started_ms + 46),
            "next": [REQUEST_STEP],
            "prev": None,
            "input": {"cron": "0 0 9 * * *"},
            "output": {},
        },
        {
            "id": REQUEST_STEP,
            "stepId": "7459bbf5-e55b-49e8-9390-084cf86752e5",
            "status": "FAILED",
            "type": "ACTION/REQUEST",
            "start": iso_ms(started_ms + 1300),
            "end": iso_ms(started_ms + 1400),
            "next": [],
            "prev": TRIGGER_STEP,
            "input": {},
            "output": "Error: no auth mechanism defined",
        },
    ]


def size(value: Any) -> str:
    return str(len(json.dumps(value, separators=(",", ":")).encode()))


async def test_a_reported_failure_shows_its_end_task_count_and_steps_as_documented(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    runner = await one_job(settings, seed, redis, registry)
    [job] = await runner.read(block_ms=0)
    async with running(settings) as http:
        before = (await http.get(f"{HISTORY}/{job.job_id}", headers=OPERATOR)).json()
        started_ms = int(datetime.fromisoformat(before["dateStarted"]).timestamp() * 1000)
        steps = documented_steps(started_ms)
        report = {
            "workflow": "wf-1",
            "user": "u1",
            "error": "Error: no auth mechanism defined",
            "dateEnded": iso_ms(started_ms + 1477),
            "taskCount": 1,
            "stepExecutions": steps,
        }
        posted = await http.post(f"/api/executions/{job.job_id}/failure", headers=OPERATOR, json=report)
        assert posted.status_code == 202, posted.text
        run = (await http.get(f"{HISTORY}/{job.job_id}", headers=OPERATOR)).json()
        listed = (await http.get(HISTORY, headers=OPERATOR)).json()["workflowExecutions"]
        detail = await http.get(f"{HISTORY}/{job.job_id}/step-executions/{REQUEST_STEP}", headers=OPERATOR)
        missing = await http.get(f"{HISTORY}/{job.job_id}/step-executions/nope", headers=OPERATOR)
    assert before["stepExecutions"] == [] and before["dateEnded"] is None  # nothing reported yet
    assert run["status"] == "FAILED" and run["taskCount"] == 1 and run["runDuration"] == 1477
    assert run["dateEnded"] == iso_ms(started_ms + 1477)
    assert listed == [{k: v for k, v in run.items() if k != "stepExecutions"}]
    shown = [
        {
            "id": s["id"],
            "stepId": s["stepId"],
            "workflowExecutionId": job.job_id,
            "status": s["status"],
            "type": s["type"],
            "start": s["start"],
            "end": s["end"],
            "next": s["next"],
            "prev": s["prev"],
            "inputSize": size(s["input"]),
            "outputSize": size(s["output"]),
        }
        for s in steps
    ]
    assert run["stepExecutions"] == shown
    # The documentation's step detail (L2294–2301), exactly.
    assert detail.json() == {
        "isLargeInput": False,
        "isLargeOutput": False,
        "input": {},
        "output": "Error: no auth mechanism defined",
    }
    assert missing.status_code == 404 and "did not report it" in missing.json()["detail"]
    ttl = await redis.ttl(KEYS.run_report(job.job_id))
    assert 0 < ttl <= settings.retention_days * 86_400  # kept as long as the execution's event, no longer


async def test_the_python_client_reports_success_with_steps_and_large_values_are_only_flagged(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    runner = await one_job(settings, seed, redis, registry)
    [job] = await runner.read(block_ms=0)
    large = {"rows": ["x" * 100] * (INLINE_BYTES // 100 + 1)}
    step = StepExecution.of(id="s1", step_id="step-1", status="SUCCEEDED", type="ACTION/REQUEST", input=large)
    ended_ms = int(job.entry.received_at) + 250
    await runner.report_success(job, run=RunReport(ended_ms=ended_ms, task_count=3, steps=(step,)))
    async with running(settings) as http:
        run = (await http.get(f"{HISTORY}/{job.job_id}", headers=OPERATOR)).json()
        detail = (await http.get(f"{HISTORY}/{job.job_id}/step-executions/s1", headers=OPERATOR)).json()
    assert run["status"] == "SUCCEEDED" and run["taskCount"] == 3 and run["dateEnded"] == iso_ms(ended_ms)
    [shown] = run["stepExecutions"]
    assert shown["inputSize"] == size(large) and int(shown["inputSize"]) > INLINE_BYTES
    assert shown["outputSize"] == "4" and shown["start"] is None and shown["prev"] is None  # output null
    assert detail == {"isLargeInput": True, "isLargeOutput": False, "input": None, "output": None}


async def test_a_success_reported_over_http_without_details_keeps_the_routers_own_figures(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    runner = await one_job(settings, seed, redis, registry)
    [job] = await runner.read(block_ms=0)
    async with running(settings) as http:
        body = {"workflow": "wf-1", "user": "u1"}
        posted = await http.post(f"/api/executions/{job.job_id}/success", headers=OPERATOR, json=body)
        run = (await http.get(f"{HISTORY}/{job.job_id}", headers=OPERATOR)).json()
    assert posted.status_code == 202
    assert run["status"] == "SUCCEEDED" and run["taskCount"] == 1 and run["stepExecutions"] == []
    assert run["dateEnded"] is None  # a stream target's end is what its runner reports, and it reported none
    assert await redis.exists(KEYS.run_report(job.job_id)) == 0


def linked(n: int) -> list[dict[str, Any]]:
    return [{"id": f"s{i}", "stepId": "st", "status": "SUCCEEDED", "type": "ACTION/REQUEST"} for i in range(n)]


@pytest.mark.parametrize(
    ("steps", "says"),
    [
        ([{**linked(1)[0], "next": ["s9"]}], "links to ids not reported"),
        ([{**linked(1)[0], "prev": "s9"}], "links to ids not reported"),
        (linked(1) * 2, "must be unique"),
        (linked(MAX_STEPS + 1), "at most"),
        ([{**linked(1)[0], "status": "DONE"}], "status"),
        ([{**linked(1)[0], "start": "yesterday"}], "start"),
        ([{**linked(1)[0], "size": 3}], "size"),
    ],
)
async def test_a_bad_step_report_is_refused_and_nothing_is_recorded(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, steps: list[dict[str, Any]], says: str
) -> None:
    runner = await one_job(settings, seed, redis, registry)
    [job] = await runner.read(block_ms=0)
    body = {"workflow": "wf-1", "user": "u1", "stepExecutions": steps}
    async with running(settings) as http:
        refused = await http.post(f"/api/executions/{job.job_id}/success", headers=OPERATOR, json=body)
        run = (await http.get(f"{HISTORY}/{job.job_id}", headers=OPERATOR)).json()
    assert refused.status_code == 422
    assert says in json.dumps(refused.json())
    assert run["status"] == "EXECUTING" and run["stepExecutions"] == []
    assert await redis.exists(KEYS.run_report(job.job_id)) == 0
