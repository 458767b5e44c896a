"""Ingest → trigger stream latency of one routing worker at a steady rate, next to a bare relay in the same run.

    python bench/route_latency.py [--rate 5000] [--seconds 4] [--batch 100] [--block-ms 1000]

A producer process appends Slack events (about 1 KiB, as bench/fanout.py stores them) to the ingest stream at
``--rate`` per second, a pipeline per millisecond tick, as the receiver coalesces concurrent webhooks. Meanwhile
this process runs:

(a)  RoutingWorker.run_once in a loop (``--batch``, ``--block-ms`` as ``HOOKROUTER_ROUTE_BATCH`` /
     ``HOOKROUTER_ROUTE_BLOCK_MS``), routing each event to one workflow's trigger stream;
(a') baseline: a bare relay on the same client: XREADGROUP (same count and block), XADD of each entry's fields
     to a trigger stream and XACK in one pipeline. The least any router reading a consumer group adds.

Latency is read from Redis's own clock: a trigger job's entry id (when Redis appended it) minus its event's id
(when Redis appended the event), in whole milliseconds: p50, p99 and the worst. Rates past what the worker
routes build a backlog and the latency grows with the run: the report says when the worker fell behind.

Redis is a throwaway redis-server on a unix socket in a temporary directory; every subprocess is stopped at the
end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from redis import Redis as SyncRedis
from redis.asyncio import Redis

from router.routing.worker import RoutingWorker, WorkerConfig
from router.storage.keys import ROUTING_GROUP
from router.storage.redis_client import connect
from router.storage.store import EventStore
from subscriptions.config import apply
from subscriptions.crypto import SecretBox
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

try:  # as part of a bench package
    from bench.fanout import KEYS, MAXLEN, ROUTE_INTEGRATION, ingest_fields, records, redis_server, stop
except ModuleNotFoundError:  # as a script: fanout.py is beside it
    from fanout import KEYS, MAXLEN, ROUTE_INTEGRATION, ingest_fields, records, redis_server, stop

RELAY_STREAM = "bench:{relay}:jobs"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=5000, help="events per second appended (default 5000)")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long each phase appends (default 4)")
    parser.add_argument("--batch", type=int, default=100, help="routing batch (default 100)")
    parser.add_argument("--block-ms", type=int, default=1000, help="routing block (default 1000)")
    parser.add_argument("--produce", nargs=3, metavar=("URL", "STREAM", "COUNT"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def produce(url: str, stream: str, count: int, rate: int) -> None:
    """The producer process: ``count`` events at ``rate`` per second, one pipeline per millisecond's share."""
    redis = SyncRedis(unix_socket_path=url.removeprefix("unix://"))
    entries = [ingest_fields(ROUTE_INTEGRATION, n) for n in range(count)]
    started = time.perf_counter()
    sent = 0
    while sent < count:
        due = min(count, int((time.perf_counter() - started) * rate) + 1)
        if due > sent:
            with redis.pipeline(transaction=False) as pipe:
                for fields in entries[sent:due]:
                    pipe.xadd(stream, fields, maxlen=MAXLEN, approximate=True)
                pipe.execute()
            sent = due
        else:
            time.sleep(0.0002)


def producer(url: str, stream: str, count: int, rate: int) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(Path(__file__).resolve()), "--rate", str(rate), "--produce", url, stream, str(count)]
    return subprocess.Popen(args)


def latencies(pairs: list[tuple[str, str]]) -> list[int]:
    """(job entry id, event id) → milliseconds from the event's append to its job's."""
    return [int(job.split("-", 1)[0]) - int(event.split("-", 1)[0]) for job, event in pairs]


async def job_pairs(redis: Redis, stream: str, field: bytes) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    start = "-"
    while True:
        rows: Any = await redis.xrange(stream, min=start, count=5000)
        out += [(i.decode(), f[field].decode()) for i, f in rows]
        if len(rows) < 5000:
            return out
        start = "(" + rows[-1][0].decode()


async def until_done(proc: subprocess.Popen[bytes], loop_once: Any, total: int, done: Any) -> float:
    """Run ``loop_once`` until the producer has finished and ``done()`` reaches ``total``; the CPU seconds used."""
    cpu = time.process_time()
    while proc.poll() is None or await done() < total:
        await loop_once()
    if proc.returncode:
        raise RuntimeError(f"the producer failed with {proc.returncode}")
    return time.process_time() - cpu


async def phase_routing(url: str, args: argparse.Namespace, count: int) -> tuple[list[int], float]:
    redis = connect(url, block_s=args.block_ms / 1000)
    try:
        registry = Registry(redis, SecretBox(secrets.token_bytes(32)))
        await apply(registry, records("http://127.0.0.1:9/hook", 10))
        cache = SnapshotCache(registry, refresh_s=0.25)
        await cache.refresh()
        store = EventStore(redis, maxlen=MAXLEN, group=ROUTING_GROUP, consumer="bench")
        worker = RoutingWorker(store, cache, KEYS, WorkerConfig(batch=args.batch, block_ms=args.block_ms))
        await store.ensure_group(KEYS.ingest)
        await worker.run_once()  # warm: the group, the scripts, the snapshot
        proc = producer(url, KEYS.ingest, count, args.rate)
        try:
            jobs = KEYS.triggers("wf-route")

            async def routed() -> int:
                return worker.routed

            cpu = await until_done(proc, worker.run_once, count, routed)
        finally:
            stop(proc)
        return latencies(await job_pairs(redis, jobs, b"event_id")), cpu
    finally:
        await redis.aclose()


async def phase_relay(url: str, args: argparse.Namespace, count: int) -> tuple[list[int], float]:
    redis = connect(url, block_s=args.block_ms / 1000)
    stream = "bench:{relay}:ingest"
    relayed = 0
    try:
        await redis.xgroup_create(stream, "relay", id="0", mkstream=True)

        async def once() -> None:
            nonlocal relayed
            reply: Any = await redis.xreadgroup("relay", "bench", {stream: ">"}, count=args.batch, block=args.block_ms)
            if not reply:
                return
            entries = reply[0][1]
            async with redis.pipeline(transaction=False) as pipe:
                for entry_id, fields in entries:
                    pipe.xadd(RELAY_STREAM, {**fields, b"event_id": entry_id}, maxlen=MAXLEN, approximate=True)
                pipe.xack(stream, "relay", *[e for e, _ in entries])
                await pipe.execute()
            relayed += len(entries)

        async def done() -> int:
            return relayed

        proc = producer(url, stream, count, args.rate)
        try:
            cpu = await until_done(proc, once, count, done)
        finally:
            stop(proc)
        return latencies(await job_pairs(redis, RELAY_STREAM, b"event_id")), cpu
    finally:
        await redis.aclose()


def summary(name: str, ms: list[int], cpu_s: float) -> str:
    ordered = sorted(ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    cpu = cpu_s * 1e6 / len(ms)
    return (
        f"{name:<44} p50 {statistics.median(ordered):5.1f} ms  p99 {p99:4d} ms  max {ordered[-1]:4d} ms  "
        f"{cpu:6.0f} us CPU/event"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.produce:
        url, stream, count = args.produce
        produce(url, stream, int(count), args.rate)
        return 0
    count = int(args.rate * args.seconds)
    with tempfile.TemporaryDirectory(prefix="hookrouter-latency-") as tmp, redis_server(Path(tmp)) as url:
        relay, relay_cpu = asyncio.run(phase_relay(url, args, count))
        routing, routing_cpu = asyncio.run(phase_routing(url, args, count))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{count} events at {args.rate}/s, batch {args.batch}, block {args.block_ms} ms; latency in whole ms")
    print(summary("(a') bare relay: XREADGROUP, XADD + XACK", relay, relay_cpu))
    print(summary("(a)  routing, 1 worker", routing, routing_cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
