"""/api/projects/...: create, read, replace, patch and delete each kind of registry record."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from router.admin import records
from router.settings import Settings
from subscriptions.models import ConnectedUser, Credential, Integration, Workflow
from subscriptions.registry import Registry
from tests.router.conftest import SLACK_SECRET, Seed, running
from tests.router.record_support import BASE, OPERATOR, SAMPLES, assert_no_secret, record_id, seed_project
from tests.router.schema_support import fits

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("segment", sorted(SAMPLES))
async def test_each_kind_is_created_read_listed_replaced_patched_and_deleted(
    settings: Settings, seed: Seed, registry: Registry, segment: str
) -> None:
    await seed_project(seed)
    body, patch, field, value = SAMPLES[segment]
    url = f"{BASE}/{segment}/{record_id(segment)}"
    async with running(settings) as http:
        created = await http.post(f"{BASE}/{segment}", json=body, headers=OPERATOR)
        assert created.status_code == 201, created.text
        assert created.headers["location"] == url and created.headers["etag"].startswith('"')
        read = await http.get(url, headers=OPERATOR)
        assert read.status_code == 200 and read.headers["etag"] == created.headers["etag"]
        assert read.json() == created.json() and read.json()["project"] == "p1"
        listed = await http.get(f"{BASE}/{segment}", headers=OPERATOR)
        assert record_id(segment) in [r["id"] for r in listed.json()["data"]]
        assert listed.json()["total"] == len(listed.json()["data"])
        replaced = await http.put(url, json=body, headers=OPERATOR)
        assert replaced.status_code == 200, replaced.text
        patched = await http.patch(
            url, content=_json(patch), headers={**OPERATOR, "content-type": "application/merge-patch+json"}
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()[field] == value and patched.headers["etag"] != created.headers["etag"]
        for answer in (created, read, listed, replaced, patched):
            assert_no_secret(answer.text)
            fits(records.router, answer)  # each answer is what the schema says it is
        assert (await http.delete(url, headers=OPERATOR)).status_code == 204
        assert (await http.get(url, headers=OPERATOR)).status_code == 404
        assert (await http.delete(url, headers=OPERATOR)).status_code == 404
    kind = {"custom-webhooks": "custom_webhook", "api-resources": "api_resource"}.get(segment)
    kind = kind or {"resource-connections": "resource_connection", "users": "user"}.get(segment, segment[:-1])
    assert await registry.get(kind, record_id(segment)) is None


def _json(data: object) -> bytes:
    import json

    return json.dumps(data).encode()


async def test_projects_are_created_read_patched_and_deleted_when_empty(settings: Settings, seed: Seed) -> None:
    await seed_project(seed)
    async with running(settings) as http:
        created = await http.post("/api/projects", json={"id": "p3", "name": "Three"}, headers=OPERATOR)
        assert created.status_code == 201 and created.headers["location"] == "/api/projects/p3"
        assert (await http.post("/api/projects", json={"id": "p3"}, headers=OPERATOR)).status_code == 409
        listed = await http.get("/api/projects", headers=OPERATOR)
        assert [p["id"] for p in listed.json()["data"]] == ["p1", "p2", "p3"]
        patched = await http.patch("/api/projects/p3", json={"retention_days": 7}, headers=OPERATOR)
        assert patched.json() == {**created.json(), "retention_days": 7}
        refused = await http.delete("/api/projects/p1", headers=OPERATOR)
        assert refused.status_code == 409 and refused.json()["code"] == "in_use"
        assert (await http.delete("/api/projects/p3", headers=OPERATOR)).status_code == 204
        assert (await http.get("/api/projects/p3", headers=OPERATOR)).status_code == 404


async def test_lists_page_with_limit_and_cursor(settings: Settings, seed: Seed) -> None:
    await seed_project(seed)
    await seed(user=[{"id": f"x{n}"} for n in range(5)])
    async with running(settings) as http:
        first = (await http.get(f"{BASE}/users?limit=3", headers=OPERATOR)).json()
        assert [u["id"] for u in first["data"]] == ["u1", "u2", "x0"] and first["total"] == 7
        second = (await http.get(first["next"], headers=OPERATOR)).json()
        assert [u["id"] for u in second["data"]] == ["x1", "x2", "x3"]
        third = (await http.get(second["next"], headers=OPERATOR)).json()
        assert [u["id"] for u in third["data"]] == ["x4"] and third["next"] is None


async def test_an_existing_id_is_a_409_and_another_projects_id_is_not_overwritten(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(seed)
    await seed(user=[{"id": "theirs", "project": "p2"}])
    async with running(settings) as http:
        again = await http.post(f"{BASE}/users", json={"id": "u1"}, headers=OPERATOR)
        assert again.status_code == 409 and again.json()["code"] == "already_exists"
        taken = await http.put(f"{BASE}/users/theirs", json={"metadata": {"a": 1}}, headers=OPERATOR)
        assert taken.status_code == 409
        assert (await http.get(f"{BASE}/users/theirs", headers=OPERATOR)).status_code == 404
    theirs = await registry.get("user", "theirs")
    assert theirs is not None and theirs.model_dump()["project"] == "p2"


async def test_if_match_guards_every_write(settings: Settings, seed: Seed, registry: Registry) -> None:
    await seed_project(seed)
    url = f"{BASE}/users/u2"
    async with running(settings) as http:
        etag = (await http.get(url, headers=OPERATOR)).headers["etag"]
        stale = await http.put(url, json={"disabled": True}, headers={**OPERATOR, "if-match": '"stale"'})
        assert stale.status_code == 412 and stale.json()["code"] == "precondition_failed"
        fits(records.router, stale)
        assert not (await registry.get("user", "u2")).model_dump()["disabled"]  # type: ignore[union-attr]
        fresh = await http.patch(url, json={"disabled": True}, headers={**OPERATOR, "if-match": etag})
        assert fresh.status_code == 200 and fresh.headers["etag"] != etag
        again = await http.patch(url, json={"disabled": False}, headers={**OPERATOR, "if-match": etag})
        assert again.status_code == 412  # the ETag moved with the write
        gone = await http.delete(url, headers={**OPERATOR, "if-match": etag})
        assert gone.status_code == 412
        missing = await http.put(f"{BASE}/users/nobody", json={}, headers={**OPERATOR, "if-match": "*"})
        assert missing.status_code == 412
        assert (await http.delete(url, headers={**OPERATOR, "if-match": fresh.headers["etag"]})).status_code == 204
        new = await http.put(f"{BASE}/users/nobody", json={}, headers=OPERATOR)
        assert new.status_code == 201 and new.headers["location"] == f"{BASE}/users/nobody"


async def test_an_unchanged_put_keeps_its_etag(settings: Settings, seed: Seed) -> None:
    await seed_project(seed)
    async with running(settings) as http:
        before = await http.get(f"{BASE}/integrations/slack-app", headers=OPERATOR)
        same = await http.put(f"{BASE}/integrations/slack-app", json={"type": "slack"}, headers=OPERATOR)
    assert same.status_code == 200 and same.headers["etag"] == before.headers["etag"]


async def test_invalid_bodies_are_422s_naming_each_field_and_write_nothing(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(seed)
    version = await registry.version()
    cases = [
        ("credentials", {"id": "c9", "user": "ghost", "integration": "slack-app"}, {"user"}),
        ("credentials", {"id": "c9", "user": "u1", "integration": "nope", "status": "MAYBE"}, {"status"}),
        ("credentials", {"id": "c9", "user": "ghost", "integration": "nope"}, {"user", "integration"}),
        ("integrations", {"id": "i9", "type": "no-such-provider"}, {"type"}),
        ("workflows", {"id": "w9", "integration": "slack-app", "trigger": "Nothing Fires This"}, {"trigger"}),
        ("activations", {"workflow": "ghost", "user": "u1"}, {"workflow"}),
        ("workflows", {"id": "w9", "integration": "slack-app", "activations": ["ghost"]}, {"activations"}),
        ("activations", {"id": "other", "workflow": "wf-1", "user": "u2"}, {"id"}),
        ("users", {"id": "u9", "project": "p2"}, {"project"}),
        ("users", {"id": "bad id with spaces"}, {"id"}),
        ("resource-connections", {"id": "r9", "user": "u1", "api_resource": "ghost"}, {"api_resource"}),
        ("users", {"id": "u9", "surprise": 1}, {"surprise"}),
    ]
    async with running(settings) as http:
        for segment, body, fields in cases:
            answer = await http.post(f"{BASE}/{segment}", json=body, headers=OPERATOR)
            assert answer.status_code == 422, (body, answer.text)
            fits(records.router, answer)
            assert answer.json()["code"] == "invalid_body"
            assert {e["field"] for e in answer.json()["errors"]} == fields, (body, answer.json())
        mismatch = await http.put(f"{BASE}/users/u2", json={"id": "u3"}, headers=OPERATOR)
        assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "id"
        for text in (b"[]", b"not json", b'"u1"'):
            assert (await http.put(f"{BASE}/users/u2", content=text, headers=OPERATOR)).status_code == 422
        unknown = await http.post("/api/projects/nope/users", json={"id": "u1"}, headers=OPERATOR)
        assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_project"
    assert await registry.version() == version


async def test_write_only_secrets_are_kept_when_a_put_omits_them_and_never_answered(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(seed)
    await seed(credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "values": {"t": "tok-SECRET"}}])
    async with running(settings) as http:
        put = await http.put(
            f"{BASE}/credentials/cred-u1",
            json={"user": "u1", "integration": "slack-app", "provider_id": "T0001"},
            headers=OPERATOR,
        )
        integration = await http.get(f"{BASE}/integrations/slack-app", headers=OPERATOR)
    assert put.status_code == 200 and put.json()["value_names"] == ["t"] and "tok-SECRET" not in put.text
    stored = await registry.get("credential", "cred-u1")
    assert isinstance(stored, Credential) and stored.values["t"].get_secret_value() == "tok-SECRET"
    shown = integration.json()
    assert shown["secrets_count"] == 1 and len(shown["secret_ids"]) == 1 and "secrets" not in shown
    assert SLACK_SECRET not in integration.text


async def test_a_users_metadata_and_origin_are_kept_when_a_put_omits_them_and_cleared_by_an_empty_object(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(seed)
    await seed(user=[{"id": "u2", "metadata": {"plan": "pro"}, "origin": "sdk"}])
    async with running(settings) as http:
        kept = await http.put(f"{BASE}/users/u2", json={"disabled": True}, headers=OPERATOR)
        assert kept.status_code == 200, kept.text
        assert (kept.json()["metadata"], kept.json()["origin"], kept.json()["disabled"]) == (
            {"plan": "pro"},
            "sdk",
            True,
        )
        cleared = await http.put(f"{BASE}/users/u2", json={"metadata": {}}, headers=OPERATOR)
    assert cleared.status_code == 200 and cleared.json()["metadata"] == {}
    stored = await registry.get("user", "u2")
    assert isinstance(stored, ConnectedUser) and stored.metadata == {} and not stored.disabled


async def test_a_workflows_http_target_and_rule_values_are_redacted(settings: Settings, seed: Seed) -> None:
    await seed_project(seed)
    body = SAMPLES["workflows"][0]
    async with running(settings) as http:
        created = await http.post(f"{BASE}/workflows", json=body, headers=OPERATOR)
    assert_no_secret(created.text)
    target = created.json()["target"]
    assert target["url"] == "https://sink.example.com/…" and target["secrets_count"] == 1
    rule = created.json()["request"]["header_validations"][0]
    assert rule == {"key": "x-token", "required": True, "data_type": None, "value_set": True}


async def test_a_merge_patch_merges_objects_removes_nulls_and_keeps_secrets(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(seed)
    await seed(user=[{"id": "u2", "metadata": {"email": "a@example.com", "plan": "pro", "tags": {"x": 1}}}])
    async with running(settings) as http:
        patched = await http.patch(
            f"{BASE}/users/u2", json={"metadata": {"plan": None, "tags": {"y": 2}}}, headers=OPERATOR
        )
        assert patched.json()["metadata"] == {"email": "a@example.com", "tags": {"x": 1, "y": 2}}
        await http.post(f"{BASE}/workflows", json=SAMPLES["workflows"][0], headers=OPERATOR)
        renamed = await http.patch(f"{BASE}/workflows/wf-http", json={"deployed": False}, headers=OPERATOR)
        assert renamed.status_code == 200
        wrong = await http.patch(f"{BASE}/users/u2", content=b"{}", headers={**OPERATOR, "content-type": "text/plain"})
        assert wrong.status_code == 415
        invalid = await http.patch(f"{BASE}/users/u2", json={"disabled": "sometimes"}, headers=OPERATOR)
        assert invalid.status_code == 422 and invalid.json()["errors"][0]["field"] == "disabled"
        missing = await http.patch(f"{BASE}/users/ghost", json={}, headers=OPERATOR)
        assert missing.status_code == 404
    workflow = await registry.get("workflow", "wf-http")
    assert isinstance(workflow, Workflow) and not workflow.deployed
    assert workflow.target.type == "http"
    assert workflow.target.url.get_secret_value() == "https://sink.example.com/sink-path-SECRET"


async def test_integration_secrets_rotate_with_an_overlap(settings: Settings, seed: Seed, registry: Registry) -> None:
    await seed_project(seed)
    url = f"{BASE}/integrations/slack-app/secrets"
    async with running(settings) as http:
        [old_id] = (await http.get(f"{BASE}/integrations/slack-app", headers=OPERATOR)).json()["secret_ids"]
        added = await http.post(url, json={"secret": "the-next-SECRET"}, headers=OPERATOR)
        assert added.status_code == 201 and "the-next-SECRET" not in added.text
        fits(records.router, added)
        [new_id] = [i for i in added.json()["secret_ids"] if i != old_id]
        assert added.headers["location"] == f"{url}/{new_id}"
        stored = await registry.get("integration", "slack-app")
        assert isinstance(stored, Integration)
        assert [s.get_secret_value() for s in stored.secrets] == [SLACK_SECRET, "the-next-SECRET"]
        again = await http.post(url, json={"secret": "the-next-SECRET"}, headers=OPERATOR)
        assert again.status_code == 200 and again.json()["secrets_count"] == 2
        assert (await http.post(url, json={"secrets": "x"}, headers=OPERATOR)).status_code == 422
        assert (await http.delete(f"{url}/{old_id}", headers=OPERATOR)).status_code == 204
        assert (await http.delete(f"{url}/{old_id}", headers=OPERATOR)).status_code == 404
        last = await http.delete(f"{url}/{new_id}", headers=OPERATOR)
        assert last.status_code == 409 and last.json()["code"] == "last_secret"
    stored = await registry.get("integration", "slack-app")
    assert isinstance(stored, Integration) and stored.secrets == [SecretStr("the-next-SECRET")]


async def test_a_workflow_keeps_its_activations_unless_the_body_names_them(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    await seed_project(seed)
    url = f"{BASE}/workflows/wf-1"
    body = {"integration": "slack-app", "trigger": "*"}
    async with running(settings) as http:
        kept = await http.put(url, json=body, headers=OPERATOR)
        assert kept.status_code == 200 and kept.json()["activations"] == ["u1"]
        named = await http.put(url, json={**body, "activations": ["u2"]}, headers=OPERATOR)
        assert named.json()["activations"] == ["u2"]
        listed = await http.get(f"{BASE}/activations", headers=OPERATOR)
        assert [a["id"] for a in listed.json()["data"]] == ["wf-1:u2"]
        patched = await http.patch(url, json={"activations": []}, headers=OPERATOR)
        assert patched.json()["activations"] == []
        assert (await http.get(f"{BASE}/activations", headers=OPERATOR)).json()["data"] == []


async def test_the_etag_moves_with_every_write_and_is_no_function_of_the_secrets(
    settings: Settings, seed: Seed
) -> None:
    await seed_project(seed)
    url = f"{BASE}/integrations/gh"
    async with running(settings) as http:
        tags = [
            (await http.put(url, json={"type": "github", "secrets": [secret]}, headers=OPERATOR)).headers["etag"]
            for secret in ("first-SECRET", "second-SECRET", "first-SECRET")
        ]
        empty = await http.post(f"{url}/secrets", json={"secret": ""}, headers=OPERATOR)
    assert len(set(tags)) == 3  # the same secrets again: sealed afresh, another ETag
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "secret"


async def test_concurrent_writes_with_one_etag_let_exactly_one_through(settings: Settings, seed: Seed) -> None:
    await seed_project(seed)
    url = f"{BASE}/users/u2"
    async with running(settings) as http:
        etag = (await http.get(url, headers=OPERATOR)).headers["etag"]
        answers = await asyncio.gather(
            *(
                http.patch(url, json={"metadata": {"writer": n}}, headers={**OPERATOR, "if-match": etag})
                for n in range(6)
            )
        )
        final = (await http.get(url, headers=OPERATOR)).json()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 412, 412, 412, 412, 412]
    [winner] = [a for a in answers if a.status_code == 200]
    assert final["metadata"] == winner.json()["metadata"]
