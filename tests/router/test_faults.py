"""Faults, against real redis-server processes: frozen (SIGSTOP), emptied (FLUSHALL, restart without data),
full (maxmemory), a task that crashes, a registry record this version cannot read, too many requests at once.

Each test runs the real app (receiver and, where it matters, the workers) on its own redis-server."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from router.history import stats
from router.routing.worker import RoutingWorker
from router.storage.keys import Keys
from router.storage.store import EventStore
from subscriptions.keys import RegistryKeys
from tests.conftest import start_redis
from tests.router.conftest import make_registry, make_seed, make_settings, running, seed_slack
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio

KEYS = Keys()
DEADLINE_S = 1.0


class RedisProcess:
    """A redis-server of the test's own, which the test may freeze, kill and start again."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.url = f"unix://{workdir / 'redis.sock'}"
        self.proc = start_redis(workdir)

    def restart_empty(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=5)
        self.proc = start_redis(self.workdir)  # no persistence: it comes back with nothing

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=5)


@pytest.fixture
async def own_redis(tmp_path: Path) -> AsyncIterator[tuple[RedisProcess, Redis]]:
    server = RedisProcess(tmp_path)
    client = Redis.from_url(server.url)
    try:
        yield server, client
    finally:
        await client.aclose()
        server.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(0.05)


async def stored_ids(redis: Redis) -> set[str]:
    entries: list[tuple[bytes, Any]] = await redis.xrange(KEYS.ingest)  # type: ignore[assignment]
    return {entry_id.decode() for entry_id, _ in entries}


async def ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await call
    return response, time.monotonic() - started


# -- frozen -------------------------------------------------------------------------------------------------


async def test_a_frozen_redis_gets_503_within_the_deadline_and_every_accepted_event_is_kept(
    own_redis: tuple[RedisProcess, Redis],
) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    settings = make_settings(server.url, redis_deadline_s=DEADLINE_S, run_workers=True, route_block_ms=100)
    accepted: list[str] = []
    async with running(settings) as http:
        before = await post_slack(http, slack_event(event_id="EvBefore"))
        assert before.status_code == 200
        accepted += before.json()["ids"]
        os.kill(server.proc.pid, signal.SIGSTOP)
        frozen_at = time.monotonic()
        try:
            replies = await asyncio.gather(
                *(timed(post_slack(http, slack_event(event_id=f"Ev{n}"))) for n in range(40))
            )
            alive, alive_s = await timed(http.get("/healthz"))
            not_ready, not_ready_s = await timed(http.get("/readyz"))
            # Frozen for longer than the deadline, several times over.
            await asyncio.sleep(max(0.0, 3 * DEADLINE_S - (time.monotonic() - frozen_at)))
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
        for reply, took_s in replies:
            assert (reply.status_code, reply.json()["error"]) == (503, "store_unavailable")
            assert reply.headers["retry-after"] and took_s <= DEADLINE_S + 1
        assert alive.status_code == 200 and alive_s < 0.5  # liveness never waits on Redis
        assert not_ready.status_code == 503 and not_ready_s <= DEADLINE_S + 1
        assert not_ready.json()["redis"] == {"ok": False, "error": "unavailable"}
        # Thawed: new events are accepted, and every task of the process comes back.
        after = await post_slack(http, slack_event(event_id="EvAfter"))
        assert after.status_code == 200
        accepted += after.json()["ids"]
        await eventually(lambda: ready(http), what="/readyz after the freeze")
        await eventually(lambda: _all_routed(redis, accepted), what="the accepted events routed after the freeze")
    assert set(accepted) <= await stored_ids(redis)


async def _all_routed(redis: Redis, ids: list[str]) -> bool:
    return all(await asyncio.gather(*(redis.hexists(KEYS.outcomes, i) for i in ids)))


async def test_requests_beyond_the_limit_are_refused_at_once_while_redis_is_frozen(
    own_redis: tuple[RedisProcess, Redis],
) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    settings = make_settings(server.url, redis_deadline_s=DEADLINE_S, max_concurrent_requests=5)
    async with running(settings) as http:
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            replies = await asyncio.gather(
                *(timed(post_slack(http, slack_event(event_id=f"Ev{n}"))) for n in range(30))
            )
            alive = await http.get("/healthz")  # never refused, whatever the load
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)
    errors = [reply.json()["error"] for reply, _ in replies]
    assert errors.count("store_unavailable") == 5 and errors.count("overloaded") == 25
    for reply, took_s in replies:
        assert reply.status_code == 503 and reply.headers["retry-after"]
        if reply.json()["error"] == "overloaded":
            assert took_s < DEADLINE_S / 2  # refused before anything waited on Redis
    assert alive.status_code == 200


# -- emptied ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flushall", "restart_without_data"])
async def test_after_redis_is_emptied_every_task_resumes_and_new_events_are_routed(
    own_redis: tuple[RedisProcess, Redis], how: str
) -> None:
    server, redis = own_redis
    seed = make_seed(make_registry(redis))
    await seed_slack(seed)
    settings = make_settings(server.url, redis_deadline_s=DEADLINE_S, run_workers=True, route_block_ms=50)
    async with running(settings) as http:
        assert (await post_slack(http, slack_event(event_id="Ev1"))).status_code == 200
        await eventually(lambda: _jobs_at_least(redis, 1), what="the first event routed")
        if how == "flushall":
            await redis.flushall()
        else:
            server.restart_empty()
            await redis.connection_pool.disconnect()  # the test's own client: its connections died with Redis
        await seed_slack(seed)  # the operator applies the configuration again
        await eventually(lambda: ready(http), what="/readyz once Redis is back")
        # Routing recreated its consumer group: a new event is routed.
        reply = await post_slack(http, slack_event(event_id="Ev2"))
        assert reply.status_code == 200
        await eventually(lambda: _jobs_at_least(redis, 1), what="an event routed after Redis was emptied")
        [event_id] = reply.json()["ids"]
        assert await redis.hexists(KEYS.outcomes, event_id)
        tasks = (await http.get("/readyz")).json()["tasks"]
        assert all(task["state"] == "running" for task in tasks.values()), tasks


async def _jobs_at_least(redis: Redis, n: int) -> bool:
    return int(await redis.xlen(KEYS.triggers("wf-1"))) >= n


# -- a task that crashes -----------------------------------------------------------------------------------


async def test_a_task_that_raises_is_restarted_and_readyz_reports_it_meanwhile(
    own_redis: tuple[RedisProcess, Redis], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    broken = True
    original = RoutingWorker.run_once

    async def crashing(self: RoutingWorker) -> int:
        if broken:
            raise RuntimeError("a bug in routing")
        return await original(self)

    monkeypatch.setattr(RoutingWorker, "run_once", crashing)
    settings = make_settings(server.url, run_workers=True, route_block_ms=50)
    async with running(settings) as http:
        reply = await post_slack(http, slack_event(event_id="Ev1"))
        assert reply.status_code == 200  # the receiver keeps accepting while routing is down
        await eventually(lambda: _routing_failing(http), timeout_s=5, what="/readyz reporting routing")
        not_ready = (await http.get("/readyz")).json()
        assert not_ready["status"] == "not_ready" and not_ready["tasks"]["routing"]["last_error"] == "RuntimeError"
        broken = False  # the next restart works
        await eventually(lambda: ready(http), what="/readyz after routing recovered")
        await eventually(lambda: _jobs_at_least(redis, 1), what="the event routed after the restart")


async def _routing_failing(http: httpx.AsyncClient) -> bool:
    reply = await http.get("/readyz")
    return reply.status_code == 503 and reply.json()["tasks"]["routing"]["state"] == "failing"


# -- a record this version cannot read -------------------------------------------------------------------


async def _unreadable(http: httpx.AsyncClient, count: int) -> bool:
    return bool((await http.get("/readyz")).json()["registry"] == {"unreadable_records": count})


async def test_an_unreadable_registry_record_is_skipped_logged_once_and_routing_goes_on(
    own_redis: tuple[RedisProcess, Redis], caplog: pytest.LogCaptureFixture
) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    settings = make_settings(server.url, run_workers=True, route_block_ms=50, registry_refresh_s=0.02)
    registry_keys = RegistryKeys()
    with caplog.at_level(logging.ERROR, logger="subscriptions.registry"):
        async with running(settings) as http:
            # As a newer version might write them: a shape this one rejects, and bytes that are not JSON.
            await redis.hset(registry_keys.records("integration"), "future-app", '{"id": "future-app", "type": 7}')
            await redis.hset(registry_keys.records("workflow"), "garbled", b"\xff{not json")
            await redis.incr(registry_keys.version)
            await eventually(lambda: _unreadable(http, 2), what="the refresh to skip both unreadable records")
            reply = await post_slack(http, slack_event(event_id="Ev1"))
            assert reply.status_code == 200
            await eventually(lambda: _jobs_at_least(redis, 1), what="an event routed beside unreadable records")
            readiness = (await http.get("/readyz")).json()
            assert readiness["status"] == "ready" and readiness["registry"] == {"unreadable_records": 2}
    skipped = [r for r in caplog.records if "cannot be read" in r.getMessage()]
    assert sorted(getattr(r, "record", "") for r in skipped) == ["integration:future-app", "workflow:garbled"]


# -- full ---------------------------------------------------------------------------------------------------


async def test_a_reroute_batch_into_a_full_redis_copies_nothing_and_copies_each_once_when_there_is_room(
    own_redis: tuple[RedisProcess, Redis],
) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    async with running(make_settings(server.url)) as http:
        for n in range(3):
            assert (await post_slack(http, slack_event(event_id=f"Ev{n}"))).status_code == 200
    ids = sorted(await stored_ids(redis))
    store = EventStore(redis, maxlen=100_000, group="routing", consumer="t", counted=stats.counted(KEYS))
    counts_before = {k: await redis.hgetall(k) async for k in redis.scan_iter(KEYS.stats("*"))}
    await redis.config_set("maxmemory-policy", "noeviction")
    await redis.config_set("maxmemory", "1")
    try:
        # Its first write is refused, and nothing before it writes (Redis lets a script that has written go on).
        with pytest.raises(ResponseError, match="maxmemory"):
            await store.copy_for_replay(KEYS.ingest, ids, "r1", skip_copies=False)
    finally:
        await redis.config_set("maxmemory", "0")
    assert sorted(await stored_ids(redis)) == ids
    assert {k: await redis.hgetall(k) async for k in redis.scan_iter(KEYS.stats("*"))} == counts_before
    assert await store.copy_for_replay(KEYS.ingest, ids, "r1", skip_copies=False) == ["c", "c", "c"]
    assert len(await stored_ids(redis)) == 6


async def test_an_out_of_memory_redis_gets_503_and_readyz_not_ready(own_redis: tuple[RedisProcess, Redis]) -> None:
    server, redis = own_redis
    await seed_slack(make_seed(make_registry(redis)))
    async with running(make_settings(server.url)) as http:
        assert (await post_slack(http, slack_event(event_id="Ev1"))).status_code == 200
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", "1")  # far below what it holds: every write is refused
        try:
            full = await post_slack(http, slack_event(event_id="Ev2"))
            not_ready = await http.get("/readyz")
        finally:
            await redis.config_set("maxmemory", "0")
        assert (full.status_code, full.json()["error"]) == (503, "store_unavailable")
        assert full.headers["retry-after"]
        assert not_ready.status_code == 503 and not_ready.json()["redis"] == {"ok": False, "error": "out_of_memory"}
        assert (await post_slack(http, slack_event(event_id="Ev3"))).status_code == 200
        assert await ready(http)
    assert len(await stored_ids(redis)) == 2  # the refused event was never stored
