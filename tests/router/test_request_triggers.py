from __future__ import annotations

import asyncio
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from router.delivery.runner import Job, RunnerClient
from router.ingress.sdk.request_input import CallInput, violations
from router.ingress.sdk.responses import ResponseWaiter
from router.routing.worker import RoutingWorker
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.models import RequestTrigger
from subscriptions.registry import Registry
from tests.conftest import start_redis
from tests.router.conftest import Seed, make_registry, make_seed, make_settings, make_worker, running, xrange_all
from tests.router.sdk_support import PROJECT, bearer, seed_project, seed_users, token

pytestmark = pytest.mark.anyio
KEYS = Keys()
HEX_FILE = {"name": "test.txt", "data": "5468697320697320612073616d706c6520746578742e", "mimeType": "text/plain"}
RULES = {
    "param_validations": [{"key": "query"}],
    "header_validations": [{"key": "X-Tasklab-Id"}, {"key": "X-Shared-Secret", "value": "s3cret-value"}],
    "body_validations": [
        {"key": "userId", "data_type": "STRING"},
        {"key": "count", "data_type": "NUMBER"},
        {"key": "note", "data_type": "STRING", "required": False},
    ],
}


def url(workflow: str) -> str:
    return f"/projects/{PROJECT}/sdk/triggers/{workflow}"


async def seed_request_workflows(seed: Seed) -> None:
    await seed_users(seed)
    request = {"trigger_type": "request", "integration": "slack-app"}
    await seed(
        integration=[{"id": "gh-app", "type": "github", "enabled": False}, {"id": "zoom-app", "type": "zoom"}],
        credential=[
            {"id": "cred-gh", "user": "u1", "integration": "gh-app"},
            {"id": "cred-zoom", "user": "u1", "integration": "zoom-app", "status": "INVALID"},
        ],
        workflow=[
            {"id": "wf-gh", "trigger_type": "request", "integration": "gh-app"},
            {"id": "wf-zoom", "trigger_type": "request", "integration": "zoom-app"},
        ],
        activate=[("wf-gh", "u1"), ("wf-zoom", "u1")],
    )
    await seed(
        workflow=[
            {"id": "wf-fire", **request},  # no response step: 202
            {"id": "wf-answer", **request, "request": {"has_response": True}},
            {"id": "wf-rules", **request, "request": RULES},
            {"id": "wf-off", **request},
            {"id": "wf-draft", **request, "deployed": False},
            {"id": "wf-event", "integration": "slack-app", "trigger_type": "app_event", "trigger": "Contact Created"},
            {"id": "wf-hub", "trigger_type": "request", "integration": "hub-app"},
            {"id": "wf-vip", **request, "permissions": [{"field": "plan", "operator": "equals", "value": "vip"}]},
        ],
        activate=[(w, "u1") for w in ("wf-fire", "wf-answer", "wf-rules", "wf-draft", "wf-event", "wf-hub", "wf-vip")],
    )


@pytest.fixture
async def seeded(seed: Seed, registry: Registry) -> None:
    await seed_project(registry)
    await seed_request_workflows(seed)


async def route_all(worker: RoutingWorker, expected: int = 1) -> None:
    """Route until ``expected`` events went through (a concurrent request may not be stored yet)."""
    routed = 0
    for _ in range(500):
        routed += await worker.run_once()
        if routed >= expected:
            return
    raise AssertionError(f"routed {routed} of {expected} events")


async def one_job(redis: Redis, registry: Registry, workflow: str) -> tuple[RunnerClient, Job]:
    runner = RunnerClient(redis, KEYS, workflow, "runner-1")
    await route_all(make_worker(redis, registry))
    [job] = await runner.read(block_ms=10)
    return runner, job


async def stored_call(redis: Redis, registry: Registry, workflow: str = "wf-fire") -> tuple[Job, dict[str, Any]]:
    _, job = await one_job(redis, registry, workflow)
    return job, dict(job.json())


# -- 202 and what is stored ------------------------------------------------------------------------


async def test_a_workflow_without_response_is_answered_202_with_the_execution_id(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        response = await http.post(url("wf-fire") + "?query=a&x=1", json={"email": "b@example.com"}, headers=bearer())
    assert response.status_code == 202
    execution_id = response.json()["executionId"]
    [(event_id, event)] = await xrange_all(redis, KEYS.ingest)
    # The execution is the trigger job routing makes of the stored call.
    assert event[b"source"] == b"request" and execution_id == f"{event_id.decode()}:wf-fire:cred-slack-a"
    job, call = await stored_call(redis, registry)
    assert job.execution_id == execution_id and job.text("workflow") == "wf-fire"
    assert job.text("credential") == "cred-slack-a" and job.text("user") == "u1"
    assert job.text("integration") == "slack-app" and job.text("trigger_type") == "request"
    assert call["params"] == {"query": "a", "x": "1"}
    assert call["body"] == {"email": "b@example.com"} and call["file"] is None
    assert call["headers"]["content-type"] == "application/json"
    assert "authorization" not in call["headers"]  # the caller's token is never stored


async def test_the_hex_file_object_is_stored_as_the_file(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        response = await http.post(url("wf-fire"), json={**HEX_FILE, "dataType": "FILE"}, headers=bearer())
    assert response.status_code == 202
    _, call = await stored_call(redis, registry)
    assert call["file"] == HEX_FILE
    assert bytes.fromhex(call["file"]["data"]) == b"This is a sample text."


async def test_multipart_paragon_file_and_fields_are_stored_faithfully(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    data = bytes(range(256))  # every byte value: no text decoding anywhere on the way
    files = {
        "paragon-file": ("1efc9f67.pdf", data, "application/pdf"),
        "extra": ("notes.txt", b"hi", "text/plain"),
    }
    async with running(settings) as http:
        response = await http.post(url("wf-fire"), files=files, data={"title": "Q3"}, headers=bearer())
    assert response.status_code == 202
    _, call = await stored_call(redis, registry)
    assert call["file"] == {"name": "1efc9f67.pdf", "mimeType": "application/pdf", "data": data.hex()}
    assert call["body"] == {
        "title": "Q3",
        "extra": {"name": "notes.txt", "mimeType": "text/plain", "data": b"hi".hex(), "dataType": "FILE"},
    }


@pytest.mark.parametrize(
    ("kw", "body", "file"),
    [
        ({"data": {"a": "1", "b": "two words"}}, {"a": "1", "b": "two words"}, None),  # x-www-form-urlencoded
        ({"content": b"plain text", "headers": {"content-type": "text/plain"}}, "plain text", None),
        (
            {"content": b"\xff\x00\xfe", "headers": {"content-type": "application/octet-stream"}},
            {},
            {"name": "", "mimeType": "application/octet-stream", "data": "ff00fe"},
        ),
        ({"content": b""}, {}, None),
    ],
)
async def test_other_bodies(
    settings: Settings, seeded: None, redis: Redis, registry: Registry, kw: dict[str, Any], body: Any, file: Any
) -> None:
    kw["headers"] = {**kw.get("headers", {}), **bearer()}
    async with running(settings) as http:
        assert (await http.post(url("wf-fire"), **kw)).status_code == 202
    _, call = await stored_call(redis, registry)
    assert call["body"] == body and call["file"] == file


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"content": b"{oops", "headers": {"content-type": "application/json"}}, "invalid_json"),
        ({"content": b'{"amount": NaN}', "headers": {"content-type": "application/json"}}, "invalid_json"),
        ({"content": b'{"amount": 1e999}', "headers": {"content-type": "application/json"}}, "invalid_json"),
        ({"json": {"name": "x", "data": "zz", "dataType": "FILE"}}, "invalid_file"),
        ({"json": {"name": "x", "data": 12, "dataType": "FILE"}}, "invalid_file"),
        (
            {
                "content": b"--x\r\nContent-Type: text/plain\r\n\r\nno name\r\n--x--\r\n",
                "headers": {"content-type": "multipart/form-data; boundary=x"},
            },
            "invalid_form",
        ),
        ({"content": b"irrelevant", "headers": {"content-type": "multipart/form-data"}}, "invalid_form"),
    ],
)
async def test_unparsable_bodies_are_400(
    settings: Settings, seeded: None, redis: Redis, kw: dict[str, Any], error: str
) -> None:
    kw["headers"] = {**kw.get("headers", {}), **bearer()}
    async with running(settings) as http:
        response = await http.post(url("wf-fire"), **kw)
    assert response.status_code == 400 and response.json()["error"] == error
    assert await redis.exists(KEYS.ingest) == 0


# -- validation rules ------------------------------------------------------------------------------


async def test_every_violation_is_listed_and_the_expected_secret_is_not(
    settings: Settings, seeded: None, redis: Redis
) -> None:
    headers = {**bearer(), "x-shared-secret": "guess"}
    async with running(settings) as http:
        response = await http.post(url("wf-rules"), json={"userId": 5, "count": "many"}, headers=headers)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "validation_failed"
    assert body["violations"] == [
        {"in": "param", "key": "query", "problem": "missing"},
        {"in": "header", "key": "X-Tasklab-Id", "problem": "missing"},
        {"in": "header", "key": "X-Shared-Secret", "problem": "unexpected_value"},
        {"in": "body", "key": "userId", "problem": "wrong_type", "expected": "STRING", "got": "NUMBER"},
        {"in": "body", "key": "count", "problem": "wrong_type", "expected": "NUMBER", "got": "STRING"},
    ]
    assert body["message"].startswith("5 validation rule(s) failed")
    assert "s3cret-value" not in response.text
    assert await redis.exists(KEYS.ingest) == 0


async def test_a_call_meeting_the_rules_passes_json_or_form(settings: Settings, seeded: None, redis: Redis) -> None:
    headers = {**bearer(), "X-Tasklab-Id": "t1", "x-shared-secret": "s3cret-value"}
    async with running(settings) as http:
        as_json = await http.post(url("wf-rules") + "?query=q", json={"userId": "u", "count": 3}, headers=headers)
        # A form sends strings only: "42" counts as a NUMBER there, "many" still does not.
        as_form = await http.post(url("wf-rules") + "?query=q", data={"userId": "u", "count": "42"}, headers=headers)
        bad_form = await http.post(url("wf-rules") + "?query=q", data={"userId": "u", "count": "many"}, headers=headers)
    assert as_json.status_code == 202 and as_form.status_code == 202
    assert bad_form.status_code == 400 and [v["key"] for v in bad_form.json()["violations"]] == ["count"]


async def test_credential_headers_are_checked_but_never_stored(settings: Settings, seeded: None, redis: Redis) -> None:
    headers = {**bearer(), "X-Tasklab-Id": "t1", "x-shared-secret": "s3cret-value", "x-api-key": "k3y-of-caller"}
    async with running(settings) as http:
        passed = await http.post(url("wf-rules") + "?query=q", json={"userId": "u", "count": 3}, headers=headers)
    assert passed.status_code == 202
    [(_, fields)] = await xrange_all(redis, KEYS.ingest)
    stored = json.loads(fields[b"body"])
    assert stored["headers"]["x-tasklab-id"] == "t1"  # other headers are the workflow's to see
    assert "x-shared-secret" not in stored["headers"] and "x-api-key" not in stored["headers"]
    for value in (b"s3cret-value", b"k3y-of-caller"):
        assert all(value not in v for v in fields.values())


STRICT = {  # platform-api.md §2.3's EndpointStep examples, with allowArbitraryPayload false
    "allow_arbitrary_payload": False,
    "param_validations": [{"key": "query", "required": False}],
    "header_validations": [{"key": "X-Tasklab-Id"}],
    "body_validations": [{"key": "userId", "data_type": "STRING"}, {"key": "email", "required": False}],
}


async def test_without_arbitrary_payload_only_declared_fields_pass(
    settings: Settings, seeded: None, seed: Seed, redis: Redis
) -> None:
    request = {"trigger_type": "request", "integration": "slack-app"}
    await seed(
        workflow=[{"id": "wf-strict", **request, "request": STRICT}, {"id": "wf-loose", **request, "request": RULES}],
        activate=[("wf-strict", "u1"), ("wf-loose", "u1")],
    )
    headers = {**bearer(), "X-Tasklab-Id": "t1", "X-Anything": "headers are not limited"}
    lead = {"userId": "u-1", "email": "bowie@useparagon.com"}
    async with running(settings) as http:
        declared = await http.post(url("wf-strict") + "?query=q", json=lead, headers=headers)
        extra = await http.post(url("wf-strict") + "?page=2", json={**lead, "first_name": "Bowie"}, headers=headers)
        listed = await http.post(url("wf-strict"), json=[lead], headers=headers)
        text = await http.post(url("wf-strict"), content=b"userId=u-1", headers={**headers, "content-type": "text/x"})
        filed = await http.post(url("wf-strict"), json={**HEX_FILE, "dataType": "FILE"}, headers=headers)
        form = await http.post(url("wf-strict"), data={"userId": "u-1", "note": "x"}, headers=headers)
        # The default (true) takes fields no rule names, as before.
        loose = await http.post(
            url("wf-loose") + "?query=q&page=2",
            json={"userId": "u", "count": 3, "first_name": "Bowie"},
            headers={**headers, "x-shared-secret": "s3cret-value"},
        )
    assert declared.status_code == 202 and loose.status_code == 202
    refused = [extra, listed, text, filed, form]
    assert {r.status_code for r in refused} == {400} and {r.json()["error"] for r in refused} == {"validation_failed"}
    assert extra.json()["violations"] == [
        {"in": "param", "key": "page", "problem": "undeclared"},
        {"in": "body", "key": "first_name", "problem": "undeclared"},
    ]
    assert extra.json()["message"] == (
        "2 validation rule(s) failed: param 'page' is not one the workflow accepts; "
        "body 'first_name' is not one the workflow accepts"
    )
    assert listed.json()["violations"] == [
        {"in": "body", "key": "userId", "problem": "missing"},
        {"in": "body", "key": "", "problem": "not_an_object"},
    ]
    assert {"in": "body", "key": "", "problem": "not_an_object"} in text.json()["violations"]
    assert {"in": "body", "key": "file", "problem": "undeclared"} in filed.json()["violations"]
    assert form.json()["violations"] == [{"in": "body", "key": "note", "problem": "undeclared"}]
    assert len(await xrange_all(redis, KEYS.ingest)) == 2  # only the two accepted calls were stored


def test_a_file_rule_admits_the_file_without_arbitrary_payload() -> None:
    rules = RequestTrigger.model_validate(
        {"allow_arbitrary_payload": False, "body_validations": [{"key": "upload", "data_type": "FILE"}]}
    )
    file = {"name": "a.txt", "mimeType": "text/plain", "data": "61"}
    as_body = CallInput({}, {}, {**file, "dataType": "FILE"}, file)  # the JSON file object is the file
    assert [v for v in violations(as_body, rules) if v["problem"] != "missing"] == []
    as_part = CallInput({}, {}, {}, file)  # a paragon-file part
    assert violations(as_part, rules) == [{"in": "body", "key": "upload", "problem": "missing"}]


def test_header_rules_compare_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(hmac, "compare_digest", compare_digest)
    rules = RequestTrigger.model_validate({"header_validations": [{"key": "X-Key", "value": "s3cret-\u00e9"}]})
    good = CallInput({"x-key": "s3cret-\u00e9"}, {}, {}, None)
    odd = CallInput({"x-key": "\ud800"}, {}, {}, None)  # a lone surrogate: valid JSON, not UTF-8
    assert violations(good, rules) == []
    assert [v["problem"] for v in violations(odd, rules)] == ["unexpected_value"]
    assert compared[0] == ("s3cret-\u00e9".encode(), "s3cret-\u00e9".encode())


# -- who may call which workflow -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workflow", "headers", "status", "error"),
    [
        ("wf-nope", {}, 404, "unknown_workflow"),
        ("wf-event", {}, 404, "unknown_workflow"),  # an App Event workflow has no endpoint
        ("wf-draft", {}, 404, "workflow_not_deployed"),
        ("wf-off", {}, 403, "workflow_not_activated"),
        ("wf-vip", {}, 403, "workflow_permission_denied"),  # u1's metadata has no plan
        ("wf-hub", {"x-paragon-credential": "cred-slack-b"}, 403, "no_credential"),  # a Slack account for HubSpot
        ("wf-fire", {"x-paragon-credential": "cred-slack-u2"}, 404, "unknown_credential"),  # someone else's
        ("wf-gh", {}, 403, "integration_disabled"),
        ("wf-zoom", {}, 403, "credential_invalid"),
    ],
)
async def test_calls_that_cannot_run_are_refused_with_a_code(
    settings: Settings, seeded: None, redis: Redis, workflow: str, headers: dict[str, str], status: int, error: str
) -> None:
    async with running(settings) as http:
        response = await http.post(url(workflow), json={}, headers={**bearer(), **headers})
    assert response.status_code == status and response.json()["error"] == error
    assert await redis.exists(KEYS.ingest) == 0


async def test_an_expired_token_is_401(settings: Settings, seeded: None) -> None:
    async with running(settings) as http:
        response = await http.post(url("wf-fire"), json={}, headers=bearer(age_s=7200))
    assert response.status_code == 401 and response.json() == {"error": "token_expired"}


async def test_the_credential_header_picks_the_account(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        headers = {**bearer(), "x-paragon-credential": "cred-slack-b"}
        assert (await http.post(url("wf-fire"), json={}, headers=headers)).status_code == 202
    job, _ = await stored_call(redis, registry)
    assert job.text("credential") == "cred-slack-b"


# -- responses -------------------------------------------------------------------------------------


async def answered(
    settings: Settings, redis: Redis, registry: Registry, respond: dict[str, Any], **post: Any
) -> tuple[httpx.Response, Job]:
    """Call wf-answer; route the call; the runner answers it with ``respond``; the caller's response."""
    async with running(settings) as http:
        call = asyncio.create_task(http.post(url("wf-answer"), headers=bearer(), **post))
        runner, job = await one_job(redis, registry, "wf-answer")
        assert not call.done()  # the caller is still waiting for the workflow
        await runner.respond(job.execution_id, **respond)
        await runner.ack(job)
        return await asyncio.wait_for(call, 10), job


async def test_a_workflow_response_is_returned_to_the_caller(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    respond = {"status": 201, "headers": {"X-Lead-Id": "L-7", "Content-Length": "1"}, "body": {"ok": True, "n": 1}}
    response, job = await answered(settings, redis, registry, respond, json={"email": "b@example.com"})
    assert response.status_code == 201
    assert response.json() == {"ok": True, "n": 1}
    assert response.headers["x-lead-id"] == "L-7"
    assert response.headers["content-type"] == "application/json"
    assert job.json()["body"] == {"email": "b@example.com"}
    assert await redis.exists(KEYS.response(job.execution_id)) == 0  # taken by the caller


async def test_a_file_response_returns_its_bytes_with_their_mime_type(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    pdf = b"%PDF-1.7\n" + bytes(range(256))
    respond = {"status": 200, "file": pdf, "mime_type": "application/pdf"}
    response, _ = await answered(settings, redis, registry, respond, json={})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content == pdf


async def test_timeout_is_542_and_the_execution_goes_on(redis_url: str, seeded: None, redis: Redis) -> None:
    registry = make_registry(redis)
    settings = make_settings(redis_url, request_trigger_timeout_s=0.3)
    async with running(settings) as http:
        response = await http.post(url("wf-answer"), json={"a": 1}, headers=bearer())
    assert response.status_code == 542
    body = response.json()
    assert set(body) == {"message", "dateSubmitted", "projectId", "workflowId", "executionId"}
    assert body["message"] == "Workflow has been enqueued but has not completed."
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["dateSubmitted"])
    assert body["projectId"] == PROJECT and body["workflowId"] == "wf-answer"

    # The execution was enqueued all the same: the runner gets it, answers late, and reports completion.
    runner, job = await one_job(redis, registry, "wf-answer")
    assert job.execution_id == body["executionId"]
    await runner.respond(job.execution_id, status=200, body={"late": True})
    await runner.ack(job)
    report_id = await runner.report_success(job)
    [(entry_id, report)] = await xrange_all(redis, KEYS.executions)
    assert entry_id.decode() == report_id and report[b"type"] == b"workflow_success"
    assert report[b"execution_id"].decode() == body["executionId"]
    assert 0 < await redis.ttl(KEYS.response(job.execution_id)) <= 300  # the late answer expires on its own


async def test_many_waiting_callers_share_one_subscription(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        calls = [asyncio.create_task(http.post(url("wf-answer"), json={"i": i}, headers=bearer())) for i in range(10)]
        await route_all(make_worker(redis, registry), expected=10)
        runner = RunnerClient(redis, KEYS, "wf-answer", "runner-1")
        jobs = await runner.read(count=20, block_ms=10)
        assert len(jobs) == 10
        [(_, subscribers)] = await redis.pubsub_numsub(KEYS.responses_channel)
        assert subscribers == 1  # one listener for ten waiting requests
        for job in reversed(jobs):  # answer out of order: each caller gets its own answer
            await runner.respond(job.execution_id, body={"i": job.json()["body"]["i"]})
        responses = await asyncio.wait_for(asyncio.gather(*calls), 10)
    assert [r.json() for r in responses] == [{"i": i} for i in range(10)]


async def test_a_response_written_before_anyone_waits_is_not_missed(redis: Redis) -> None:
    # No listener task at all: the read right after the event is stored finds the answer.
    waiter = ResponseWaiter(redis, KEYS)
    runner = RunnerClient(redis, KEYS, "wf-answer", "r")
    await runner.respond("exec-1", status=202, body=[1, 2])
    with waiter.expect("exec-1") as ready:
        reply = await waiter.wait("exec-1", ready, timeout_s=0.01)
    assert reply is not None and reply.status == 202 and json.loads(reply.body) == [1, 2]


async def test_a_malformed_runner_response_is_502(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        call = asyncio.create_task(http.post(url("wf-answer"), json={}, headers=bearer()))
        _, job = await one_job(redis, registry, "wf-answer")
        await redis.hset(KEYS.response(job.execution_id), mapping={"status": "teapot", "body": b""})
        await redis.publish(KEYS.responses_channel, job.execution_id)
        response = await asyncio.wait_for(call, 10)
    assert response.status_code == 502 and response.json()["executionId"] == job.execution_id


# -- runner client ---------------------------------------------------------------------------------


async def test_failure_reports_carry_the_workflow_failure_shape(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        await http.post(url("wf-fire"), json={}, headers=bearer())
    runner, job = await one_job(redis, registry, "wf-fire")
    await runner.report_failure(job, "Test error message", step_id="step-3")
    [(_, report)] = await xrange_all(redis, KEYS.executions)
    assert report[b"type"] == b"workflow_failure" and report[b"error"] == b"Test error message"
    assert report[b"workflow"] == b"wf-fire" and report[b"user"] == b"u1" and report[b"integration"] == b"slack-app"
    assert re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", report[b"timestampISO"])
    data = json.loads(report[b"data"])
    assert data["type"] == "workflow_failure" and data["projectId"] == PROJECT and data["workflowId"] == "wf-fire"
    assert data["workflowExecution"] == {"id": job.execution_id} and data["error"] == "Test error message"
    assert data["stepExecution"]["stepId"] == "step-3" and data["timestamp"] == int(report[b"timestamp"])


async def test_unacked_jobs_can_be_reclaimed_by_another_runner(
    settings: Settings, seeded: None, redis: Redis, registry: Registry
) -> None:
    async with running(settings) as http:
        await http.post(url("wf-fire"), json={}, headers=bearer())
    _, job = await one_job(redis, registry, "wf-fire")  # runner-1 "dies" without acking
    other = RunnerClient(redis, KEYS, "wf-fire", "runner-2")
    assert await other.read(block_ms=10) == []  # not handed out twice
    [again] = await other.reclaim(min_idle_ms=0)
    assert again.job_id == job.job_id
    await other.ack(again)
    assert (await redis.xpending(KEYS.triggers("wf-fire"), "runners"))["pending"] == 0


@pytest.mark.parametrize(
    "kw",
    [{}, {"body": {}, "file": b"x"}, {"body": {}, "status": 99}],
)
async def test_respond_refuses_ambiguous_answers(redis: Redis, kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        await RunnerClient(redis, KEYS, "wf", "r").respond("e", **kw)


async def test_body_over_the_limit_is_413(redis_url: str, seeded: None, redis: Redis) -> None:
    async with running(make_settings(redis_url, max_body_bytes=1000)) as http:
        response = await http.post(url("wf-fire"), json={"x": "y" * 2000}, headers=bearer())
    assert response.status_code == 413 and await redis.exists(KEYS.ingest) == 0


@pytest.mark.parametrize(
    ("rule", "body", "form", "problem"),
    [
        ({"key": "on", "data_type": "BOOLEAN"}, {"on": "true"}, True, None),  # a form's "true" is a boolean
        ({"key": "on", "data_type": "BOOLEAN"}, {"on": "yes"}, True, "wrong_type"),
        ({"key": "on", "data_type": "BOOLEAN"}, {"on": "true"}, False, "wrong_type"),  # in JSON, a string
        ({"key": "n", "data_type": "NUMBER"}, {"n": "nan"}, True, "wrong_type"),
        ({"key": "n", "data_type": "NUMBER"}, {"n": None}, False, "wrong_type"),
        ({"key": "tags", "data_type": "ARRAY"}, {"tags": []}, False, None),
        ({"key": "doc", "data_type": "FILE"}, {"doc": {"dataType": "FILE"}}, False, None),
        ({"key": "doc", "data_type": "FILE"}, {"doc": {}}, False, "wrong_type"),
        ({"key": "kind", "value": "7"}, {"kind": 7}, False, None),  # JSON values compare as their JSON text
        ({"key": "kind", "value": "7"}, {"kind": "8"}, False, "unexpected_value"),
        ({"key": "k", "required": False, "data_type": "STRING"}, {}, False, None),
        ({"key": "k"}, ["not", "an", "object"], False, "missing"),
    ],
)
def test_body_rules(rule: dict[str, Any], body: Any, form: bool, problem: str | None) -> None:
    call = CallInput({}, {}, body, None, form=form)
    found = violations(call, RequestTrigger.model_validate({"body_validations": [rule]}))
    assert [v["problem"] for v in found] == ([problem] if problem else [])


async def test_the_listener_comes_back_after_a_redis_restart(tmp_path: Path, seed: Seed) -> None:
    proc = start_redis(tmp_path, appendonly=True)
    redis_url = f"unix://{tmp_path / 'redis.sock'}"
    redis = Redis.from_url(redis_url)
    try:
        registry = make_registry(redis)
        await seed_project(registry)
        await seed_request_workflows(make_seed(registry))
        async with running(make_settings(redis_url)) as http:
            proc.terminate()
            proc.wait(timeout=5)
            down = await http.post(url("wf-answer"), json={}, headers=bearer())
            assert down.status_code == 503
            proc = start_redis(tmp_path, appendonly=True)
            deadline = time.monotonic() + 10
            while (await redis.pubsub_numsub(KEYS.responses_channel))[0][1] != 1:
                assert time.monotonic() < deadline, "the response listener did not resubscribe"
                await asyncio.sleep(0.05)
            call = asyncio.create_task(http.post(url("wf-answer"), json={}, headers=bearer()))
            runner, job = await one_job(redis, registry, "wf-answer")
            await runner.respond(job.execution_id, body={"after": "restart"})
            response = await asyncio.wait_for(call, 10)
        assert response.status_code == 200 and response.json() == {"after": "restart"}
    finally:
        await redis.aclose()
        proc.terminate()
        proc.wait(timeout=5)


@pytest.fixture
async def sdk_client(settings: Settings, seeded: None) -> AsyncIterator[httpx.AsyncClient]:
    async with running(settings) as http:
        yield http


FUZZ_TYPES = st.sampled_from(
    [
        "application/json",
        "application/vnd.api+json",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        'multipart/form-data; boundary="',
        "application/x-www-form-urlencoded",
        "text/plain; charset=latin-1",
        "",
    ]
)


@given(
    path=st.sampled_from(
        [url("wf-fire"), url("wf-rules") + "?query=%00%ff", f"/projects/{PROJECT}/sdk/events/trigger"]
    ),
    content_type=FUZZ_TYPES,
    body=st.one_of(
        st.binary(max_size=512),
        st.builds(lambda b: b"--x\r\n" + b, st.binary(max_size=256)),
        st.builds(lambda o: json.dumps(o).encode(), st.dictionaries(st.text(max_size=8), st.text(max_size=8))),
    ),
    credential=st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=20),
)
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_no_sdk_input_produces_a_server_error(
    sdk_client: httpx.AsyncClient, path: str, content_type: str, body: bytes, credential: str
) -> None:
    headers = [(b"authorization", f"Bearer {token()}".encode())]
    if content_type:
        headers.append((b"content-type", content_type.encode()))
    if credential:
        headers.append((b"x-paragon-credential", credential.encode("latin-1")))
    response = await sdk_client.post(path, content=body, headers=headers)
    assert response.status_code < 500, (response.status_code, response.text)
