"""API keys through /api/keys: shown once, stored hashed, revocable, their last use recorded."""

from __future__ import annotations

import hashlib

import pytest
from redis.asyncio import Redis

from router.admin.keys import CreatedKey, KeyPage, Revoked
from tests.router.conftest import ADMIN_TOKEN, make_settings, running
from tests.router.operation_support import body_name, component, openapi, operation, parameters, schema_name
from tests.router.problem_support import legacy

pytestmark = pytest.mark.anyio

OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}


def _bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


async def everything_in(redis: Redis) -> bytes:
    """Every key name and value in Redis, strings and hashes alike, as one blob to search."""
    parts: list[bytes] = []
    async for name in redis.scan_iter():
        parts.append(_bytes(name))
        kind = await redis.type(name)
        if kind == b"hash":
            for field, value in (await redis.hgetall(name)).items():
                parts += [_bytes(field), _bytes(value)]
        elif kind == b"string":
            parts.append(_bytes(await redis.get(name)))
    assert parts  # the search below looks at something
    return b"\n".join(parts)


async def test_a_key_is_shown_once_and_stored_hashed(redis_url: str, redis: Redis) -> None:
    async with running(make_settings(redis_url)) as http:
        created = await http.post("/api/keys", headers=OPERATOR, json={"name": "ci", "scopes": ["project:p1:read"]})
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        token = created.json()["key"]
        key_id = created.json()["id"]
        assert token.startswith(f"hrk_{key_id}_")
        secret = token.removeprefix(f"hrk_{key_id}_")
        assert len(secret) >= 43  # 32 random bytes, base64url
        listed = (await http.get("/api/keys", headers=OPERATOR)).json()["data"]
    assert [k["id"] for k in listed] == [key_id]
    assert "key" not in listed[0]
    assert listed[0]["scopes"] == ["project:p1:read"]
    stored = await everything_in(redis)
    assert secret.encode() not in stored
    assert token.encode() not in stored
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored


async def test_a_revoked_or_wrong_key_is_refused(redis_url: str, redis: Redis) -> None:
    async with running(make_settings(redis_url)) as http:
        created = await http.post("/api/keys", headers=OPERATOR, json={"name": "ops", "scopes": ["operator"]})
        token, key_id = created.json()["key"], created.json()["id"]
        mine = {"authorization": f"Bearer {token}"}
        assert (await http.get("/api/keys", headers=mine)).status_code == 200
        for wrong in (token[:-1], token[:-1] + ("A" if token[-1] != "A" else "B"), f"hrk_{'0' * 16}_{token[-43:]}"):
            reply = await http.get("/api/keys", headers={"authorization": f"Bearer {wrong}"})
            assert reply.status_code == 401
            assert legacy(reply.json()) == {"error": "unauthorized"}
        assert (await http.delete(f"/api/keys/{key_id}", headers=OPERATOR)).status_code == 200
        refused = await http.get("/api/keys", headers=mine)
        assert refused.status_code == 401
        assert legacy(refused.json()) == {"error": "unauthorized"}
        assert (await http.delete(f"/api/keys/{key_id}", headers=OPERATOR)).status_code == 404
        listed = (await http.get("/api/keys", headers=OPERATOR)).json()["data"]
    assert listed[0]["revoked"] is True


async def test_the_admin_token_is_the_operator_key_and_a_project_key_manages_no_keys(
    redis_url: str, redis: Redis
) -> None:
    async with running(make_settings(redis_url)) as http:
        created = await http.post("/api/keys", headers=OPERATOR, json={"name": "p", "scopes": ["project:p1:write"]})
        project_key = {"authorization": f"Bearer {created.json()['key']}"}
        for method, path in (
            ("GET", "/api/keys"),
            ("POST", "/api/keys"),
            ("DELETE", f"/api/keys/{created.json()['id']}"),
        ):
            reply = await http.request(method, path, headers=project_key, json={"name": "x", "scopes": ["operator"]})
            assert reply.status_code == 403
            assert legacy(reply.json()) == {"error": "insufficient_scope", "required": "operator"}
        assert (await http.get("/api/keys", headers=OPERATOR)).json()["data"][0]["revoked"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin"]}, "scopes"),
        ({"name": "x", "scopes": ["project:p1:delete"]}, "scopes"),
        ({"name": "", "scopes": ["operator"]}, "name"),
        ({"name": " ", "scopes": ["operator"]}, "name"),
        ({"name": "x", "scopes": "operator"}, "scopes"),
        ({"scopes": ["operator"]}, "name"),
    ],
)
async def test_a_key_with_a_bad_name_or_scope_is_not_created(
    redis_url: str, redis: Redis, body: dict[str, object], field: str
) -> None:
    async with running(make_settings(redis_url)) as http:
        reply = await http.post("/api/keys", headers=OPERATOR, json=body)
        assert reply.status_code == 422 and reply.json()["code"] == "invalid_body"
        assert [e["field"] for e in reply.json()["errors"]] == [field]
        assert (await http.get("/api/keys", headers=OPERATOR)).json()["data"] == []


async def test_last_used_at_is_recorded(redis_url: str, redis: Redis) -> None:
    async with running(make_settings(redis_url)) as http:
        created = await http.post("/api/keys", headers=OPERATOR, json={"name": "ops", "scopes": ["operator"]})
        before = (await http.get("/api/keys", headers=OPERATOR)).json()["data"][0]
        assert before["last_used_at"] is None
        mine = {"authorization": f"Bearer {created.json()['key']}"}
        after = (await http.get("/api/keys", headers=mine)).json()["data"][0]
    assert after["last_used_at"] >= before["created_at"]


async def test_the_schema_documents_the_key_routes_and_their_answers_match_it(redis_url: str, redis: Redis) -> None:
    async with running(make_settings(redis_url)) as http:
        document = await openapi(http)
        created = await http.post("/api/keys", headers=OPERATOR, json={"name": "ci", "scopes": ["operator"]})
        listed = await http.get("/api/keys", headers=OPERATOR)
        revoked = await http.delete(f"/api/keys/{created.json()['id']}", headers=OPERATOR)
        too_large = await http.post("/api/keys", headers=OPERATOR, json={"name": "x" * 20_000, "scopes": []})
    create = operation(document, "POST", "/keys")
    assert body_name(create) == "NewKey" and schema_name(create, 201) == "CreatedKey"
    assert set(component(document, "NewKey")["required"]) == {"name", "scopes"}
    assert schema_name(create, 413) == "Problem"
    assert schema_name(operation(document, "GET", "/keys"), 200) == "KeyPage"
    revoke = operation(document, "DELETE", "/keys/{key_id}")
    assert parameters(revoke)["key_id"]["in"] == "path" and schema_name(revoke, 200) == "Revoked"
    assert created.status_code == 201 and CreatedKey.model_validate(created.json()).scopes == ["operator"]
    page = KeyPage.model_validate(listed.json())
    assert [k.revoked for k in page.data] == [False] and page.data[0].created_at_iso
    assert Revoked.model_validate(revoked.json()).revoked is True
    assert too_large.status_code == 413 and too_large.json()["code"] == "body_too_large"
