"""The audit trail: who changed what, and when, in a capped stream the operator reads through /api/audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis

from subscriptions.api_keys import ApiKeys
from subscriptions.audit import AuditLog
from subscriptions.keys import RegistryKeys
from tests.router.conftest import ADMIN_TOKEN, Seed, make_settings, running
from tests.router.test_admin_scopes import seed_p1
from tests.router.test_cli import hookrouter
from tests.router.test_cli_keys import env

pytestmark = pytest.mark.anyio

OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_changes_are_recorded_with_their_key(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_p1(seed)
    key, token = await ApiKeys(redis, RegistryKeys()).create("runner", ["project:p1:write"])
    mine = {"authorization": f"Bearer {token}"}
    async with running(make_settings(redis_url)) as http:
        assert (await http.post("/api/destinations/1/disable", headers=mine)).status_code == 200
        assert (await http.get("/api/destinations/1", headers=mine)).status_code == 200  # a read: not recorded
        assert (await http.post("/api/keys", headers=mine, json={})).status_code == 403  # refused: recorded
        assert (await http.post("/api/destinations/1/enable")).status_code == 401  # nobody: not recorded
        created = await http.post("/api/keys", headers=OPERATOR, json={"name": "n", "scopes": ["operator"]})
        trail = await http.get("/api/audit", headers=OPERATOR)
        assert (await http.get("/api/audit", headers=mine)).status_code == 403
    assert trail.status_code == 200
    rows = [(e["actor"], e["action"], e["target"], e["status"]) for e in trail.json()["data"]]
    assert rows == [
        ("admin-token", "create_key", "/api/keys", 201),
        (key.id, "create_key", "/api/keys", 403),
        (key.id, "disable_destination", "/api/destinations/1/disable", 200),
    ]
    assert token not in trail.text and created.json()["key"] not in trail.text
    assert all(e["at_ms"] > 0 for e in trail.json()["data"])


async def test_the_trail_pages_back_and_refuses_a_bad_cursor(redis_url: str, redis: Redis) -> None:
    log = AuditLog(redis, RegistryKeys())
    ids = [await log.record("cli", "create_key", f"k{n}", 0) for n in range(5)]
    async with running(make_settings(redis_url)) as http:
        first = (await http.get("/api/audit?limit=2", headers=OPERATOR)).json()
        assert [e["id"] for e in first["data"]] == ids[:2:-1][:2] == [ids[4], ids[3]]
        second = (await http.get(f"/api/audit?limit=2&before={first['next']}", headers=OPERATOR)).json()
        assert [e["id"] for e in second["data"]] == [ids[2], ids[1]]
        for bad in ("x", "1-", "99999999999999999999999-0"):
            assert (await http.get(f"/api/audit?before={bad}", headers=OPERATOR)).status_code == 400


async def test_the_trail_is_capped(redis: Redis) -> None:
    log = AuditLog(redis, RegistryKeys(), maxlen=10)
    for n in range(1_000):
        await log.record("cli", "create_key", f"k{n}", 0)
    # Approximate trimming drops whole nodes (100 entries each by default), so a node's worth may remain.
    assert await redis.xlen(RegistryKeys().audit) <= 10 + 200
    assert (await log.latest(1))[0].target == "k999"


async def test_the_cli_records_key_changes(redis_url: str, redis: Redis, tmp_path: Path) -> None:
    created = hookrouter("keys", "create", "--name", "x", "--scope", "operator", env=env(redis_url), cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    key = (await ApiKeys(redis, RegistryKeys()).list())[0]
    assert hookrouter("keys", "revoke", key.id, env=env(redis_url), cwd=tmp_path).returncode == 0
    rows = [(e.actor, e.action, e.target) for e in await AuditLog(redis, RegistryKeys()).latest(10)]
    assert rows == [("cli", "keys revoke", key.id), ("cli", "keys create", key.id)]


async def test_apply_records_each_record_it_changed(redis_url: str, redis: Redis, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("project: {id: p}\nintegrations: [{id: i, type: slack, secrets: [s3cret]}]\nusers: [{id: u}]\n")
    first = hookrouter("apply", "-f", str(config), env=env(redis_url), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = hookrouter("apply", "-f", str(config), env=env(redis_url), cwd=tmp_path)  # unchanged: nothing new
    assert again.returncode == 0, again.stderr
    rows = {(e.actor, e.action, e.target) for e in await AuditLog(redis, RegistryKeys()).latest(10)}
    assert rows == {
        ("cli", "apply: created", "project/p"),
        ("cli", "apply: created", "integration/i"),
        ("cli", "apply: created", "user/u"),
    }
    assert all("s3cret" not in str(row) for row in rows)
