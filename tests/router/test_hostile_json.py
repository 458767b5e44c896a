"""Bodies Python's json takes but RFC 8259 does not (a lone surrogate escape, NaN), on every surface that reads a
caller's JSON, and query values Python's int() refuses: each is a 4xx naming the reason, and what was stored
before is still read, routed and shown."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from redis.asyncio import Redis

import verifiers
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, SLACK_SECRET, SLACK_URL, TEAM, Seed, make_worker, running, seed_slack
from tests.router.record_support import SAMPLES
from tests.router.record_support import seed_project as seed_records
from tests.router.sdk_support import PROJECT, bearer, seed_project
from tests.router.test_request_triggers import seed_request_workflows
from tests.router.test_strict_json import WITH_SURROGATES, holds_lone_surrogate
from tests.router.ui_support import sign_in

pytestmark = pytest.mark.anyio
OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}
SDK = f"/projects/{PROJECT}/sdk"
JSON = {"content-type": "application/json"}


# A document whose parse holds a lone surrogate, written as a caller's JSON carries it: a \u escape.
HOSTILE = WITH_SURROGATES.map(json.dumps).filter(lambda text: holds_lone_surrogate(json.loads(text)))


def _valid_utf8(response: httpx.Response) -> Any:
    return json.loads(response.content.decode("utf-8"))  # strict: an answer is UTF-8 or this raises


@given(text=HOSTILE)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_sdk_bodies_holding_a_lone_surrogate_are_400_and_nothing_stored_is_lost(
    settings: Settings, seed: Seed, registry: Registry, redis: Redis, text: str
) -> None:
    await seed_project(registry)
    await seed_request_workflows(seed)
    sdk = {**bearer("u1"), **JSON}
    async with running(settings) as http:
        event = {"name": "Contact Created", "payload": {"n": 1}}
        kept = await http.post(f"{SDK}/events/trigger", json=event, headers=sdk)
        assert kept.status_code == 201, kept.text
        meta = await http.patch(f"{SDK}/me", json={"meta": {"plan": "vip"}}, headers=sdk)
        assert meta.status_code == 200, meta.text
        for method, path, body in [
            ("POST", f"{SDK}/events/trigger", f'{{"name": "Contact Created", "payload": {text}}}'),
            ("PATCH", f"{SDK}/me", f'{{"meta": {{"note": {text}}}}}'),
            ("PATCH", f"{SDK}/credentials/cred-slack-a", f'{{"config": {{"sharedSettings": {{"a": {text}}}}}}}'),
            ("POST", f"{SDK}/triggers/wf-fire", text),
        ]:
            answer = await http.request(method, path, content=body.encode(), headers=sdk)
            assert answer.status_code == 400, (path, answer.status_code, answer.text)
            refused = _valid_utf8(answer)
            assert refused["error"] == "invalid_json", refused
            assert "lone UTF-16 surrogate" in (refused.get("message") or refused.get("detail")), refused
        me = await http.get(f"{SDK}/me", headers=sdk)
        assert _valid_utf8(me)["meta"] == {"plan": "vip"}
        shown = await http.get(f"/api/events/{kept.json()['id']}", headers=OPERATOR)
        assert shown.status_code == 200, shown.text
    assert await make_worker(redis, registry).run_once() == 1  # the App Event stored before, and nothing else


def _with_surrogate(body: dict[str, Any]) -> bytes:
    """``body`` with a lone surrogate appended to its first string member, escaped as JSON carries it."""
    name = next(k for k, v in body.items() if isinstance(v, str))
    return json.dumps({**body, name: body[name] + "\ud800"}).encode()


@pytest.mark.parametrize("segment", sorted(SAMPLES))
async def test_admin_record_writes_holding_a_lone_surrogate_are_422_and_the_records_still_read(
    settings: Settings, seed: Seed, segment: str
) -> None:
    await seed_records(seed)
    body = SAMPLES[segment][0]
    async with running(settings) as http:
        before = _valid_utf8(await http.get(f"/api/projects/p1/{segment}", headers=OPERATOR))
        writes = [("POST", f"/api/projects/p1/{segment}", _with_surrogate(body))]
        if segment == "users":  # a member name, where pydantic checks nothing
            writes.append(("POST", "/api/projects/p1/users", b'{"id": "u9", "metadata": {"\\udfff": 1}}'))
        for method, path, content in writes:
            answer = await http.request(method, path, content=content, headers={**OPERATOR, **JSON})
            assert answer.status_code == 422, (answer.status_code, answer.text)
            problem = _valid_utf8(answer)
            assert problem["code"] == "invalid_body" and "lone UTF-16 surrogate" in problem["detail"], problem
        after = await http.get(f"/api/projects/p1/{segment}", headers=OPERATOR)
        assert after.status_code == 200 and _valid_utf8(after) == before


@pytest.mark.parametrize(
    ("report", "reason"),
    [
        ('"output": {"\\ud800": 1}', "lone UTF-16 surrogate"),
        ('"input": ["\\udc00"]', "lone UTF-16 surrogate"),
        ('"input": {"a": NaN}', "NaN is not a JSON number"),
        ('"output": [1e999]', "does not fit a 64-bit float"),
    ],
)
async def test_runner_reports_holding_what_json_cannot_answer_are_422(
    settings: Settings, seed: Seed, report: str, reason: str
) -> None:
    await seed_records(seed)
    step = f'{{"id": "s1", "stepId": "st", "status": "FAILED", "type": "ACTION/REQUEST", {report}}}'
    body = f'{{"workflow": "wf-1", "user": "u1", "error": "boom", "stepExecutions": [{step}]}}'
    async with running(settings) as http:
        answer = await http.post("/api/executions/ex-1/failure", content=body.encode(), headers={**OPERATOR, **JSON})
        assert answer.status_code == 422, (answer.status_code, answer.text)
        assert reason in _valid_utf8(answer)["detail"]
        fine = body.replace(report, '"output": {"ok": "\\ud83d\\ude00"}')  # a pair is text
        assert (await http.post("/api/executions/ex-1/failure", content=fine, headers=OPERATOR)).status_code == 202


@pytest.mark.parametrize("offset", ["\u00b2", "\u0663", "9" * 5000, "1" + "0" * 4400])
async def test_task_history_offsets_python_cannot_read_as_a_number_are_400(
    settings: Settings, seed: Seed, offset: str
) -> None:
    await seed_records(seed)
    async with running(settings) as http:
        answer = await http.get(
            "/projects/p1/task-history/workflow-executions", params={"offset": offset}, headers=OPERATOR
        )
    assert answer.status_code == 400, (answer.status_code, answer.text)
    assert answer.json()["code"] == "bad_filter" and "offset must be an integer" in answer.json()["detail"]


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("depth", [300, 900, 100_000])
async def test_bodies_nested_past_the_limit_are_refused_on_every_surface_and_nothing_stored_is_lost(
    settings: Settings, seed: Seed, registry: Registry, redis: Redis, depth: int
) -> None:
    """json reads about 1,000 levels; pydantic and orjson write 255: between them a body was stored (or not) and
    answered 500."""
    await seed_project(registry)
    await seed_request_workflows(seed)
    sdk = {**bearer("u1"), **JSON}
    admin = {**OPERATOR, **JSON}
    deep = _nested(depth)
    step = f'{{"id": "s1", "stepId": "st", "status": "FAILED", "type": "T", "output": {deep}}}'
    async with running(settings) as http:
        event = {"name": "Contact Created", "payload": {"n": 1}}
        kept = await http.post(f"{SDK}/events/trigger", json=event, headers=sdk)
        assert kept.status_code == 201, kept.text
        for method, path, body, headers, status in [
            ("POST", f"{SDK}/events/trigger", f'{{"name": "Contact Created", "payload": {deep}}}', sdk, 400),
            ("PATCH", f"{SDK}/me", f'{{"meta": {{"x": {deep}}}}}', sdk, 400),
            (
                "PATCH",
                f"{SDK}/credentials/cred-slack-a",
                f'{{"config": {{"sharedSettings": {{"x": {deep}}}}}}}',
                sdk,
                400,
            ),
            ("POST", f"{SDK}/triggers/wf-fire", f'{{"x": {deep}}}', sdk, 400),
            ("POST", "/api/projects/p1/users", f'{{"id": "u9", "metadata": {{"x": {deep}}}}}', admin, 422),
            (
                "POST",
                "/api/executions/ex-1/failure",
                f'{{"workflow": "wf-fire", "user": "u1", "error": "e", "stepExecutions": [{step}]}}',
                admin,
                422,
            ),
        ]:
            answer = await http.request(method, path, content=body.encode(), headers=headers)
            assert answer.status_code == status, (path, answer.status_code, answer.text[:300])
            refused = answer.json()
            assert "nested deeper than 128 levels" in (refused.get("message") or refused.get("detail")), refused
        assert (await http.get("/api/projects/p1/users/u9", headers=OPERATOR)).status_code == 404
    assert await make_worker(redis, registry).run_once() == 1  # the App Event stored before, and nothing else


async def _one_execution(http: httpx.AsyncClient, redis: Redis, registry: Registry) -> str:
    body = json.dumps({"type": "event_callback", "team_id": TEAM, "event_id": "Ev1", "event": {"type": "message"}})
    headers = verifiers.sign("slack", secrets=[SLACK_SECRET], body=body.encode())
    assert (await http.post(SLACK_URL, content=body, headers={**headers, **JSON})).status_code == 200
    assert await make_worker(redis, registry).run_once() == 1
    (execution,) = (await http.get("/projects/p1/task-history/workflow-executions", headers=OPERATOR)).json()[
        "workflowExecutions"
    ]
    return str(execution["id"])


@pytest.mark.parametrize(
    "report",
    [
        {"dateEnded": "0001-01-01T00:00:00+14:00"},
        {"dateEnded": "9999-12-31T23:59:59-14:00"},
        {
            "stepExecutions": [
                {"id": "s", "stepId": "s", "status": "FAILED", "type": "T", "start": "0001-01-01T01:00+02:00"}
            ]
        },
    ],
)
async def test_a_reported_moment_no_iso_8601_answer_can_show_is_422_and_task_history_still_lists(
    settings: Settings, seed: Seed, registry: Registry, redis: Redis, report: dict[str, Any]
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        execution = await _one_execution(http, redis, registry)
        answer = await http.post(
            f"/api/executions/{execution}/success", json={"workflow": "wf-1", "user": "u1", **report}, headers=OPERATOR
        )
        assert answer.status_code == 422, answer.text
        assert "outside the years 1 to 9999" in answer.json()["detail"]
        for path in [
            "/projects/p1/task-history/workflow-executions",
            f"/api/executions/{execution}",
            "/api/executions",
        ]:
            assert (await http.get(path, headers=OPERATOR)).status_code == 200, path


async def test_a_report_stored_with_such_a_moment_reads_as_none_and_every_listing_still_answers(
    settings: Settings, seed: Seed, registry: Registry, redis: Redis
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        execution = await _one_execution(http, redis, registry)
        # As an earlier version stored 0001-01-01T00:00:00+14:00: 14 hours before year 1.
        stored = {"ended_ms": -62_135_596_800_000 - 14 * 3_600_000, "task_count": 3, "steps": []}
        await redis.set(Keys().run_report(execution), json.dumps(stored))
        for path in [
            "/projects/p1/task-history/workflow-executions",
            f"/projects/p1/task-history/workflow-executions/{execution}",
            f"/api/executions/{execution}",
            "/api/executions",
        ]:
            answer = await http.get(path, headers=OPERATOR)
            assert answer.status_code == 200, (path, answer.text)
            assert execution in answer.text


async def test_a_failed_steps_time_past_year_9999_is_422(settings: Settings, seed: Seed) -> None:
    await seed_slack(seed)
    report = {"workflow": "wf-1", "user": "u1", "error": "boom", "step": {"stepId": "s", "endTime": 10**15}}
    async with running(settings) as http:
        answer = await http.post("/api/executions/ex-1/failure", json=report, headers=OPERATOR)
    assert answer.status_code == 422 and "step.endTime" in answer.json()["detail"], answer.text


@pytest.mark.parametrize("path", ["/api/events", "/api/executions"])
@pytest.mark.parametrize("decoded", [b"[" * 3000, b'{"s": ' + b"[" * 3000, b'{"s": NaN, "m": "", "t": 1}'])
async def test_a_forged_cursor_is_400_bad_filter(settings: Settings, seed: Seed, path: str, decoded: bytes) -> None:
    await seed_slack(seed)
    cursor = base64.urlsafe_b64encode(decoded).decode().rstrip("=")
    async with running(settings) as http:
        answer = await http.get(path, params={"cursor": cursor}, headers=OPERATOR)
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert answer.json()["code"] == "bad_filter" and "cursor" in answer.json()["detail"]


async def test_the_dashboard_shows_a_stored_body_holding_a_lone_surrogate_escape_as_that_escape(
    settings: Settings, seed: Seed
) -> None:
    """A provider's signed body is stored as sent; the event page pretty-prints it and must still be UTF-8."""
    await seed_slack(seed)
    body = (
        b'{"type": "event_callback", "team_id": "T0001", "event_id": "E1", "event": {"type": "m", "text": "a\\ud800b"}}'
    )
    headers = verifiers.sign("slack", secrets=[SLACK_SECRET], body=body)
    async with running(settings) as http:
        stored = await http.post(SLACK_URL, content=body, headers={**headers, **JSON})
        (event_id,) = stored.json()["ids"]
        await sign_in(http, ADMIN_TOKEN)
        page = await http.get(f"/ui/events/{event_id}")
    assert page.status_code == 200
    assert "&#34;text&#34;: &#34;a\\ud800b&#34;" in page.content.decode("utf-8")


# Any document, surrogates lone or paired, NUL and control characters, as a user's metadata.
ANY_TEXT = WITH_SURROGATES.map(json.dumps)


@given(text=ANY_TEXT)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_admin_user_metadata_is_stored_and_read_back_as_utf_8_or_refused_naming_why(
    settings: Settings, seed: Seed, text: str
) -> None:
    await seed_records(seed)
    lone = holds_lone_surrogate(json.loads(text))
    body = f'{{"id": "u9", "metadata": {{"m": {text}}}}}'.encode()
    async with running(settings) as http:
        answer = await http.put("/api/projects/p1/users/u9", content=body, headers={**OPERATOR, **JSON})
        if lone:
            assert answer.status_code == 422 and "lone UTF-16 surrogate" in answer.json()["detail"], answer.text
        else:
            assert answer.status_code in (200, 201), answer.text
            shown = _valid_utf8(await http.get("/api/projects/p1/users/u9", headers=OPERATOR))
            assert shown["metadata"] == {"m": json.loads(text)}
        listed = await http.get("/api/projects/p1/users", headers=OPERATOR)
        assert listed.status_code == 200 and {"u1", "u2"} <= {u["id"] for u in _valid_utf8(listed)["data"]}
