"""Every admin list pages one way (``limit``/``cursor`` in, ``data``/``next`` out) and every timestamp has an ISO twin.

The lists are found by walking the routes ``create_app`` builds: a GET route under ``/api`` whose path ends in a
literal segment is a list (one ending in a ``{parameter}`` is a single record), so a new list is checked too.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from starlette.routing import BaseRoute, Mount, Route

from router.admin.paging import iso, with_iso
from router.app import create_app
from router.settings import Settings
from router.storage.entries import Notification
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, Seed, running, seed_slack
from tests.router.loopback import Reply, http_sink
from tests.router.test_delivery import delivery_worker, drain, job_id_of, seed_target, send_events
from tests.router.test_delivery import http as http  # the fixture
from tests.router.test_ingest import post_slack, slack_event
from tests.router.test_replay import route_all

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
KEYS = Keys()
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# A list's parent record, by the path parameter that names it.
PARENTS = {"integration_id": "slack-app", "workflow_id": "wf-1", "project_id": "p1"}


# Collection paths that answer one whole document, not a paged list: traffic counts per bucket (a bounded series).
WHOLE = {"/api/stats"}


def list_paths(routes: list[BaseRoute], prefix: str = "") -> list[str]:
    out: list[str] = []
    for route in routes:
        if not getattr(route, "include_in_schema", True):
            continue  # the API's documentation, not a list
        if isinstance(route, Mount):
            out += list_paths(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and "GET" in (route.methods or {"GET"}):
            path = prefix + route.path
            if path.startswith("/api/") and not path.endswith("}") and path not in WHOLE:
                out.append(re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PARENTS[m.group(1)], path))
    return sorted(set(out))


def identity(item: dict[str, Any]) -> str:
    return str(item.get("id") or json.dumps(item, sort_keys=True))


def is_iso_utc(text: str) -> bool:
    return ISO_UTC.fullmatch(text) is not None and datetime.fromisoformat(text).utcoffset() == timedelta(0)


def iso_members(value: Any, where: str = "") -> list[str]:
    """Every ISO timestamp member (``*_iso``, ``date*``, ``timestampISO``) that is not ISO 8601 Z."""
    bad: list[str] = []
    if isinstance(value, dict):
        for key, member in value.items():
            named = key.endswith("_iso") or key.startswith("date") or key == "timestampISO"
            if named and isinstance(member, str) and not is_iso_utc(member):
                bad.append(f"{where}.{key}={member!r}")
            bad += iso_members(member, f"{where}.{key}")
    elif isinstance(value, list):
        for n, member in enumerate(value):
            bad += iso_members(member, f"{where}[{n}]")
    return bad


def missing_twins(item: dict[str, Any]) -> list[str]:
    """Numeric timestamp members of a list item without their ISO twin."""
    out = []
    for key, value in item.items():
        stamp = isinstance(value, int | float) and not isinstance(value, bool) and (key.endswith("_at") or key == "at")
        if stamp and f"{key}_iso" not in item:
            out.append(key)
        if key == "at_ms" and not is_iso_utc(str(item.get("at"))):
            out.append(key)
    return out


async def walk(http: httpx.AsyncClient, path: str, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Follow ``next`` from the first page; the items seen and the number of pages."""
    items: list[dict[str, Any]] = []
    url: str | None = f"{path}?limit={limit}"
    pages = 0
    while url is not None:
        reply = await http.get(url, headers=AUTH)
        assert reply.status_code == 200, (url, reply.text)
        body = reply.json()
        assert isinstance(body["data"], list) and "next" in body, (url, body)
        if "total" in body:
            assert isinstance(body["total"], int)
        items += body["data"]
        url = body["next"]
        pages += 1
        assert pages <= 50, f"{path}: next never ends"
    return items, pages


async def seed_everything(settings: Settings, seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_slack(seed, users=2)
    await seed(project=[{"id": "p1"}])  # the project whose records /api/projects/p1/... list
    await seed(destination=[{"id": f"d{n}", "type": "webhook", "url": f"https://hooks.example/{n}"} for n in range(2)])
    async with running(settings) as http:
        for n in range(3):
            assert (await post_slack(http, slack_event(event_id=f"Ev{n}"))).status_code == 200
        rejected = await http.post("/webhook/triggers/connect/slack/slack-app", content=b"{}", headers={})
        assert rejected.status_code >= 400
        key = {"scopes": ["project:p1:read"]}
        for n in range(3):  # keys for /api/keys, and the POSTs are the audit trail
            assert (await http.post("/api/keys", headers=AUTH, json={**key, "name": f"k{n}"})).status_code == 201
    await route_all(redis, registry)
    for n in range(3):
        await redis.xadd(KEYS.delivery_dead, {"job_id": f"j{n}", "workflow": "wf-1", "dead_at": "1765000000.5"})
        event = {"type": "workflow_failure", "timestamp": 1765000000000 + n, "timestampISO": iso(1765000000000 + n)}
        note = Notification(type="workflow_failure", event=json.dumps(event).encode())
        await redis.xadd(KEYS.notifications, note.to_fields())  # type: ignore[arg-type]


async def test_following_next_visits_every_item_of_every_list_once(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_everything(settings, seed, redis, registry)
    paths = list_paths(create_app(settings).routes)
    assert {"/api/events", "/api/audit", "/api/dead-letters", "/api/notifications", "/api/keys"} <= set(paths)
    paged = 0
    async with running(settings) as http:
        for path in paths:
            whole, _ = await walk(http, path, 1000)
            for limit in (1, 2):
                items, pages = await walk(http, path, limit)
                ids = [identity(i) for i in items]
                assert len(ids) == len(set(ids)), f"{path}?limit={limit} repeats an item: {ids}"
                assert sorted(ids) == sorted(identity(i) for i in whole), f"{path}?limit={limit}"
                paged += limit == 1 and pages > 1
            bad = iso_members(whole, path)
            assert not bad, bad
            untwinned = {k for item in whole if isinstance(item, dict) for k in missing_twins(item)}
            assert not untwinned, f"{path}: {untwinned} without an ISO 8601 twin"
    assert paged >= 5, "seeded lists of several items should take several pages at limit=1"


async def test_the_old_paging_parameters_still_page(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    for n in range(3):
        await redis.xadd(KEYS.delivery_dead, {"job_id": f"j{n}", "workflow": "wf-1"})
    async with running(settings) as http:
        first = (await http.get("/api/dead-letters?limit=1", headers=AUTH)).json()
        after = (await http.get(f"/api/dead-letters?limit=1&after={first['next_id']}", headers=AUTH)).json()
        linked = (await http.get(first["next"], headers=AUTH)).json()
        for n in range(2):
            await http.post("/api/keys", headers=AUTH, json={"name": f"k{n}", "scopes": ["project:p1:read"]})
        audit = (await http.get("/api/audit?limit=1", headers=AUTH)).json()
        before = (await http.get(f"/api/audit?limit=1&before={audit['next_id']}", headers=AUTH)).json()
    assert after["data"] == linked["data"] and after["data"][0]["job_id"] == "j1"
    assert first["next"] == f"/api/dead-letters?limit=1&cursor={first['next_id']}"
    assert before["data"][0]["id"] != audit["data"][0]["id"]


async def test_delivery_records_and_their_attempts_answer_iso_timestamps(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, http: httpx.AsyncClient
) -> None:
    with http_sink(default=Reply(410)) as sink:
        await seed_target(seed, sink.url())
        [event_id] = await send_events(settings, redis, registry)
        await drain(delivery_worker(redis, registry, http))
        async with running(settings) as client:
            answers = [
                (await client.get(path, headers=AUTH)).json()
                for path in (
                    "/api/dead-letters",
                    "/api/targets/wf-http",
                    f"/api/deliveries/{job_id_of(event_id)}",
                    f"/api/events/{event_id}",
                    f"/api/executions/{job_id_of(event_id)}",
                )
            ]
    dead, target, delivery, event, _ = answers
    assert not iso_members(answers), iso_members(answers)
    assert is_iso_utc(dead["data"][0]["attempts"][0]["at_iso"]) and is_iso_utc(target["disabled"]["at_iso"])
    assert is_iso_utc(delivery["at_iso"]) and is_iso_utc(delivery["attempts"][0]["at_iso"])
    assert is_iso_utc(event["received_at_iso"]) and is_iso_utc(event["jobs"][0]["ended_at_iso"])
    assert is_iso_utc(event["jobs"][0]["attempts"][0]["at_iso"])


def test_iso_is_utc_with_milliseconds() -> None:
    assert iso(1_796_593_800_123) == "2026-12-06T21:50:00.123Z"
    assert with_iso({"at": 1_796_593_800.5, "x": 1}, seconds=["at"]) == {
        "at": 1_796_593_800.5,
        "x": 1,
        "at_iso": "2026-12-06T21:50:00.500Z",
    }
    assert with_iso({"at_ms": 0}, ms=["at_ms"], names={"at_ms": "at"}) == {"at_ms": 0, "at": None}
