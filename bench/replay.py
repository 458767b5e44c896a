"""Event history at scale: filtered-query latency over 1,000,000 stored events, and the replay rate.

    python bench/replay.py [--events 1000000] [--iterations 200] [--replay 100000]

Preload (untimed, under ~60 s): ``--events`` ingest entries (webhooks as the receiver stores them: metadata in one
JSON field, a 1 KiB body) spread over 90 days and their index entries
(router/history/indexes.py's layout, key names from router.storage.keys, checked against Keys before use),
written by a Lua script in chunks; filter values drawn from a fixed hash of the entry number: 5 projects, 10
integrations with 200 tenants and 20 event types each, 2,000 credentials/users, statuses 70% delivered, 15%
routed, 10% unmatched, 3% failed, 2% dead. The last 1,000 entries are left unrouted (the routing group starts
before them), so ``status=received`` reads a real backlog.

Timed: EventIndex.query, one page of 100 newest first, ``--iterations`` times per case with the filter value
varied each time; p50 and p99 in ms. Baseline, measured in the same run on the same client: a bare
``ZREVRANGEBYSCORE <all> +inf -inf LIMIT 0 100`` on one index — the least any indexed page can cost. "first
page" cases include counting the total; "next page" cases pass the cursor of a previous page (the total travels
in it). Deep pagination fetches page 200 (events 19,901-20,000) from the cursor page 199 returned.

Replay rate: ``--replay`` of the oldest preloaded events rerouted by Replayer.run with the throttle off, in
events/s, next to raw XADD of the same entries (same marks, 500 per pipeline) in the same run; 2 alternating
rounds each, summed.

End to end: ``--end-to-end`` events rerouted with the backlog throttle on (each setting in ``THROTTLES``) while a
RoutingWorker in this process routes the copies, as ``hookrouter worker`` runs both: events/s until the last copy
is routed, as a share of the raw XADD rate above.

Redis is a throwaway redis-server on a unix socket in a temporary directory (never a shared Redis); it is
stopped at the end, also on error or Ctrl-C. The whole run is cut off after 300 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from router.history.indexes import EventFilter, EventIndex
from router.history.replay import ReplayConfig, Replayer
from router.history.replay_jobs import ReplayJobs, ReplayRequest
from router.routing.worker import RoutingWorker, WorkerConfig
from router.runtime.embedded import find_redis_server
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.redis_client import connect
from router.storage.store import EventStore
from subscriptions.crypto import SecretBox
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

KEYS = Keys("bench")
DAY_MS = 86_400_000
CHUNK = 50_000
PRELOAD_DEADLINE_S = 120.0
DEADLINE_S = 300

# Entry n → its filter values, from a fixed multiplicative hash, written exactly as router/history/indexes.py would.
_PRELOAD = """
local first, count, start_ms, step_ms = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ev, stream, indexed_until = ARGV[5], ARGV[6], tonumber(ARGV[7])
local statuses = {}
for _ = 1, 70 do statuses[#statuses + 1] = 'delivered' end
for _ = 1, 15 do statuses[#statuses + 1] = 'routed' end
for _ = 1, 10 do statuses[#statuses + 1] = 'unmatched' end
for _ = 1, 3 do statuses[#statuses + 1] = 'failed' end
for _ = 1, 2 do statuses[#statuses + 1] = 'dead' end
local body = string.rep('x', 1024)
-- Lua's generator, seeded per chunk: reproducible, and the attributes independent of each other.
math.randomseed(first + 1)
local function pick(m) return math.random(m) - 1 end
-- Members are collected per key and added 2,000 at a time: one ZADD per member would take 5x as long.
local pending = {}
local function add(key, score, id)
  local list = pending[key]
  if not list then list = {}; pending[key] = list end
  list[#list + 1] = score
  list[#list + 1] = id
  if #list >= 4000 then redis.call('ZADD', key, unpack(list)); pending[key] = nil end
end
for n = first, first + count - 1 do
  local ms = start_ms + n * step_ms
  local id = ms .. '-0'
  local score = ms * 1000
  local project = 'p' .. pick(5)
  local integration = 'int' .. pick(10)
  local tenant = 'T' .. pick(200)
  local etype = 'type' .. pick(20)
  local cred = pick(2000)
  local status = statuses[pick(100) + 1]
  -- As the receiver stores a webhook today: its metadata as one JSON field beside source, project and body.
  local meta = cjson.encode({integration = integration, integration_type = 'slack', provider_id = tenant,
    credential = '', event_type = etype, delivery_id = 'Ev' .. n, received_at = tostring(ms),
    headers = '{"content-type":"application/json"}'})
  redis.call('XADD', stream, id, 'source', 'webhook', 'project', project, 'meta', meta, 'body', body)
  if n < indexed_until then  -- the rest is the routing backlog: "received", in no index
    add(ev .. 'all', score, id)
    add(ev .. 'project:' .. project, score, id)
    add(ev .. 'integration:' .. integration, score, id)
    add(ev .. 'provider:' .. integration .. ':' .. tenant, score, id)
    add(ev .. 'type:' .. integration .. ':' .. etype, score, id)
    if status ~= 'unmatched' then
      add(ev .. 'credential:cred' .. cred, score, id)
      add(ev .. 'user:user' .. cred, score, id)
    end
    add(ev .. 'status:' .. status, score, id)
  end
end
for key, list in pairs(pending) do redis.call('ZADD', key, unpack(list)) end
return count
"""


class BenchError(Exception):
    pass


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    sock = workdir / "redis.sock"
    args = [find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
    args += ["--dir", str(workdir), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("redis-server did not start")
            time.sleep(0.01)
        yield f"unix://{sock}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def preload(url: str, events: int, start_ms: int, step_ms: int) -> float:
    """Stream and index entries for ``events`` events; the routing group leaves the last 1,000 unread."""
    # Its own client: a chunk's script runs for seconds on a loaded machine, past the router's reply deadline.
    redis = connect(url, deadline_s=PRELOAD_DEADLINE_S)
    try:
        return await _preload(redis, events, start_ms, step_ms)
    finally:
        await redis.aclose()


async def _preload(redis: Redis, events: int, start_ms: int, step_ms: int) -> float:
    prefix = KEYS.event_index("all")[: -len("all")]
    # The script builds names by concatenation: make sure they are the names router/history/indexes.py reads.
    assert KEYS.event_index("provider", "int3", "T7") == prefix + "provider:int3:T7"  # noqa: S101
    script = redis.register_script(_PRELOAD)
    started = time.perf_counter()
    unread = max(events - 1000, 0)
    for first in range(0, events, CHUNK):
        count = min(CHUNK, events - first)
        await script(keys=[], args=[first, count, start_ms, step_ms, prefix, KEYS.ingest, unread])
    await redis.xgroup_create(KEYS.ingest, ROUTING_GROUP, id=f"{start_ms + (unread - 1) * step_ms}-0")
    return time.perf_counter() - started


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def timed(iterations: int, call: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    samples = []
    for n in range(iterations):
        started = time.perf_counter()
        await call(n)
        samples.append(time.perf_counter() - started)
    return percentiles(samples)


async def cursor_at(index: EventIndex, f: EventFilter, pages: int) -> str:
    cursor: str | None = None
    for _ in range(pages):
        cursor = (await index.query(f, cursor=cursor)).next_cursor
        if cursor is None:
            raise BenchError(f"fewer than {pages} pages for {f}")
    assert cursor is not None  # noqa: S101
    return cursor


async def query_latency(redis: Redis, events: int, iterations: int, start_ms: int, step_ms: int) -> None:
    index = EventIndex(redis, KEYS)
    mid = start_ms + 30 * DAY_MS
    span = events * step_ms

    def at(n: int, days: int) -> EventFilter:
        after = start_ms + (n * 7919 * DAY_MS // 10) % max(span - days * DAY_MS, 1)
        return EventFilter(after_ms=after, before_ms=after + days * DAY_MS)

    cases: dict[str, Callable[[int], Awaitable[object]]] = {
        "baseline: ZREVRANGEBYSCORE all LIMIT 100": lambda n: redis.zrevrangebyscore(
            KEYS.event_index("all"), "+inf", "-inf", start=0, num=100
        ),
        "no filter": lambda n: index.query(EventFilter()),
        "integration": lambda n: index.query(EventFilter(integration=f"int{n % 10}")),
        "credential": lambda n: index.query(EventFilter(credential=f"cred{n % 2000}")),
        "user": lambda n: index.query(EventFilter(user=f"user{n % 2000}")),
        "integration+provider_id": lambda n: index.query(EventFilter(integration=f"int{n % 10}", provider_id="T5")),
        "integration+event_type": lambda n: index.query(EventFilter(integration=f"int{n % 10}", event_type="type3")),
        "status=failed": lambda n: index.query(EventFilter(status="failed")),
        "status=received (1,000 backlog)": lambda n: index.query(EventFilter(status="received")),
        "date range (7 days)": lambda n: index.query(at(n, 7)),
        "integration+status=dead, first page (counts total)": lambda n: index.query(
            EventFilter(integration=f"int{n % 10}", status="dead")
        ),
        "integration+status=delivered, first page (counts total)": lambda n: index.query(
            EventFilter(integration=f"int{n % 10}", status="delivered", after_ms=mid, before_ms=mid + 7 * DAY_MS)
        ),
        "credential+event_type+integration, 30 days": lambda n: index.query(
            EventFilter(
                credential=f"cred{n % 2000}",
                integration="int1",
                event_type="type2",
                after_ms=start_ms,
                before_ms=start_ms + 30 * DAY_MS,
            )
        ),
    }
    f_next = EventFilter(integration="int4", status="delivered")
    second = await cursor_at(index, f_next, 1)
    cases["integration+status=delivered, next page (cursor)"] = lambda n: index.query(f_next, cursor=second)
    deep_filter = EventFilter(integration="int2")
    page = min(200, await redis.zcard(KEYS.event_index("integration", "int2")) // 100)
    deep = await cursor_at(index, deep_filter, page - 1)
    cases[f"deep pagination: page {page} of integration"] = lambda n: index.query(deep_filter, cursor=deep)
    print(f"{'case':58} {'p50 ms':>8} {'p99 ms':>8}")
    for name, call in cases.items():
        p50, p99 = await timed(iterations, call)
        print(f"{name:58} {p50:8.2f} {p99:8.2f}", flush=True)


# -- replay rate ------------------------------------------------------------------------------------------

REPLAY_ROUNDS = 2  # replay and baseline alternate, so drifting machine load skews both alike


async def replay_rate(redis: Redis, count: int, start_ms: int, step_ms: int) -> tuple[float, float]:
    """Reroute ``count`` of the oldest preloaded events, unthrottled, next to raw XADD of the same entries.

    Replay: Replayer.run over a date-range filter that selects exactly ``count`` indexed events (index walk,
    entries read back by id, copies appended with their marks, job counts and cursor written per batch).
    Baseline: the same entries, already in memory, appended with the same marks by a redis-py pipeline, 500 per
    round trip (the replay's batch), to a scratch stream: what the appends alone cost.

    Returns (replay events/s, baseline events/s), each summed over its rounds.
    """
    count = min(count, await redis.zcard(KEYS.event_index("all")))
    window = EventFilter(after_ms=start_ms, before_ms=start_ms + count * step_ms)
    store = EventStore(redis, maxlen=10_000_000, group=ROUTING_GROUP, consumer="bench")
    jobs = ReplayJobs(redis, KEYS)
    cache = SnapshotCache(Registry(redis, SecretBox(os.urandom(32))), refresh_s=1)  # reroute never reads it
    replayer = Replayer(store, KEYS, jobs, cache, ReplayConfig(rate_per_s=None, backlog_max=None, batch=500))
    entries = await store.scan(KEYS.ingest, after="-", count=count)  # the same entries the window selects
    scratch = KEYS.ingest.replace("events", "bench-baseline")
    replay_s = baseline_s = 0.0
    replayed = 0
    for round_ in range(REPLAY_ROUNDS):
        started = time.perf_counter()
        async with redis.pipeline(transaction=False) as pipe:
            for n, e in enumerate(entries, 1):
                fields: dict[Any, Any] = {**e.fields, "replay_of": e.id, "replay": "base"}
                pipe.xadd(scratch, fields, maxlen=10_000_000, approximate=True)
                if n % 500 == 0:
                    await pipe.execute()
            await pipe.execute()
        baseline_s += time.perf_counter() - started
        request = ReplayRequest(f"bench-{round_}", filter=window)
        await jobs.create(request, queue=False)
        started = time.perf_counter()
        job = await replayer.run(request.request_id)
        replay_s += time.perf_counter() - started
        if job is None or job.status != "done" or job.counts.replayed != count:
            raise BenchError(f"replay did not finish as expected: {job}")
        replayed += job.counts.replayed
    print(f"{'replay (reroute, unthrottled)':58} {replayed / replay_s:10,.0f} events/s  ({count:,} x {REPLAY_ROUNDS})")
    print(f"{'baseline: raw XADD pipeline, 500 per round trip':58} {replayed / baseline_s:10,.0f} events/s")
    print(f"{'replay / baseline':58} {baseline_s / replay_s:10.2f}")
    return replayed / replay_s, replayed / baseline_s


async def measure_replay(events: int, replay: int) -> tuple[float, float]:
    """``replay_rate`` alone on a fresh Redis preloaded with ``events`` events (no query latency)."""
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp, redis_server(Path(tmp)) as url:
        redis = connect(url)
        try:
            step_ms = 90 * DAY_MS // events
            start_ms = int(time.time() * 1000) - 90 * DAY_MS
            await preload(url, events, start_ms, step_ms)
            return await asyncio.wait_for(replay_rate(redis, replay, start_ms, step_ms), DEADLINE_S)
        finally:
            await redis.aclose()


# Backlog bound and how often a paused replay looks again: what ReplayConfig defaults to, and what it did before.
THROTTLES = {
    "pause >1,000 backlog, look every 0.5 s (before)": ReplayConfig(None, backlog_max=1000, pause_s=0.5, batch=500),
    "pause >1,000 backlog, look every 0.05 s": ReplayConfig(None, backlog_max=1000, pause_s=0.05, batch=500),
    "pause >5,000 backlog, look every 0.05 s": ReplayConfig(None, backlog_max=5000, pause_s=0.05, batch=500),
    "ReplayConfig's defaults (bound, pause)": ReplayConfig(rate_per_s=None, batch=500),
    "no pause": ReplayConfig(rate_per_s=None, backlog_max=None, batch=500),
}


async def route_until(worker: RoutingWorker, target: int, replayed: asyncio.Event) -> None:
    while not replayed.is_set() or worker.routed < target:
        await worker.run_once()


async def end_to_end(redis: Redis, count: int, start_ms: int, step_ms: int, baseline: float) -> None:
    """Reroute ``count`` events with the backlog throttle on while a routing worker (this process, as in
    ``hookrouter worker``) routes the copies: events/s from the start until the last copy is routed."""
    await redis.xgroup_setid(KEYS.ingest, ROUTING_GROUP, "$")  # the preload's backlog is not this replay's
    store = EventStore(redis, maxlen=10_000_000, group=ROUTING_GROUP, consumer="bench")
    jobs = ReplayJobs(redis, KEYS)
    cache = SnapshotCache(Registry(redis, SecretBox(os.urandom(32))), refresh_s=1)  # no integrations: unmatched
    worker = RoutingWorker(store, cache, KEYS, WorkerConfig(batch=100, block_ms=20))
    window = EventFilter(after_ms=start_ms, before_ms=start_ms + count * step_ms)
    for n, (name, config) in enumerate(THROTTLES.items()):
        replayer = Replayer(store, KEYS, jobs, cache, config)
        request = ReplayRequest(f"bench-e2e-{n}", filter=window)
        await jobs.create(request, queue=False)
        done = asyncio.Event()
        started = time.perf_counter()
        routing = asyncio.create_task(route_until(worker, worker.routed + count, done))
        try:
            job = await replayer.run(request.request_id)
        finally:
            done.set()
        await routing
        rate = count / (time.perf_counter() - started)
        if job is None or job.counts.replayed != count:
            raise BenchError(f"replay did not finish as expected: {job}")
        print(f"{'reroute + routing, ' + name:66} {rate:10,.0f} events/s  {rate / baseline:5.2f} of raw XADD")


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp, redis_server(Path(tmp)) as url:
        redis = connect(url)
        try:
            step_ms = 90 * DAY_MS // args.events
            start_ms = int(time.time() * 1000) - 90 * DAY_MS
            took = await preload(url, args.events, start_ms, step_ms)
            memory = (await redis.info("memory"))["used_memory_human"]
            print(f"preloaded {args.events:,} events (stream + indexes) in {took:.1f} s; Redis uses {memory}")
            await query_latency(redis, args.events, args.iterations, start_ms, step_ms)
            if args.replay:
                _, baseline = await replay_rate(redis, args.replay, start_ms, step_ms)
                if args.end_to_end:
                    await end_to_end(redis, min(args.end_to_end, args.replay), start_ms, step_ms, baseline)
        finally:
            await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--replay", type=int, default=100_000, help="events to replay for the rate (0: skip)")
    parser.add_argument(
        "--end-to-end", type=int, default=20_000, help="events rerouted while a routing worker runs (0: skip)"
    )
    args = parser.parse_args()
    try:
        asyncio.run(asyncio.wait_for(run(args), DEADLINE_S))
    except (BenchError, TimeoutError) as exc:
        sys.exit(f"bench failed: {exc or 'timed out'}")


if __name__ == "__main__":
    main()
