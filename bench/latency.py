"""Ingest → trigger stream latency at a steady rate, the routing worker in its own process.

    python -m bench.latency [--rate 5000] [--seconds 5] [--body-bytes 1024]

(a)  routing: a ``RoutingWorker`` (production settings: batch 100, blocking reads) runs in a subprocess; this
     process appends 1 KiB Slack events to the ingest stream at ``--rate`` events/s, a few per millisecond, as
     the receiver would, for ``--seconds``. Each event's latency is its trigger job's stream id minus its ingest
     entry's id: both are Redis's own clock, so no two clocks are compared (whole milliseconds: a figure of
     "1 ms" means the job was written in the millisecond after the event, or the one after that).
(a') baseline: the least any router could do, in the same subprocess set-up: a bare loop that reads the ingest
     stream in a consumer group (the same batch and blocking read) and, per batch, XADDs one entry per event to
     a stream and XACKs them in one pipeline.

p50, p99 and max of each; a fresh redis-server on a unix socket in a temporary directory for each phase
(never a shared Redis); every subprocess is stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis

from bench import fanout
from router.routing.worker import RoutingWorker, WorkerConfig
from router.storage.keys import ROUTING_GROUP
from router.storage.redis_client import connect
from router.storage.store import EventStore
from subscriptions.config import apply
from subscriptions.crypto import SecretBox
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

KEYS = fanout.KEYS
ROOT = Path(__file__).resolve().parent.parent
READY = "bench:latency:ready"
BARE_GROUP = "bench-bare"
BARE_STREAM = "bench:latency:forwarded"
BATCH = 100
TICK_S = 0.001


@dataclass(frozen=True, slots=True)
class Latency:
    events: int
    p50_ms: float
    p99_ms: float
    max_ms: float

    @classmethod
    def of(cls, samples: Sequence[int]) -> Latency:
        ordered = sorted(samples)
        if not ordered:
            raise fanout.BenchError("no event reached the trigger stream")

        def at(q: float) -> float:
            return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])

        return cls(len(ordered), at(0.50), at(0.99), float(ordered[-1]))


def _ms(stream_id: bytes | str) -> int:
    text = stream_id.decode() if isinstance(stream_id, bytes) else stream_id
    return int(text.split("-", 1)[0])


# -- the subprocess: a routing worker, or the bare forwarder ---------------------------------------------


async def _route_forever(redis: Redis, box_key: bytes) -> None:
    cache = SnapshotCache(Registry(redis, SecretBox(box_key)), refresh_s=1.0)
    await cache.refresh()
    store = EventStore(redis, maxlen=fanout.MAXLEN, group=ROUTING_GROUP, consumer="bench")
    worker = RoutingWorker(store, cache, KEYS, WorkerConfig(batch=BATCH, block_ms=1000))
    await worker.run_once()  # joins the group before anything is sent
    await redis.set(READY, "1")
    while True:
        await worker.run_once()


async def _forward_forever(redis: Redis) -> None:
    with contextlib.suppress(Exception):
        await redis.xgroup_create(KEYS.ingest, BARE_GROUP, id="$", mkstream=True)
    await redis.set(READY, "1")
    while True:
        reply = await redis.xreadgroup(BARE_GROUP, "bench", {KEYS.ingest: ">"}, count=BATCH, block=1000)
        for _, entries in reply or []:
            async with redis.pipeline(transaction=False) as pipe:
                for entry_id, _fields in entries:
                    pipe.xadd(BARE_STREAM, {"event_id": entry_id})
                pipe.xack(KEYS.ingest, BARE_GROUP, *(entry_id for entry_id, _ in entries))
                await pipe.execute()


def serve(mode: str, redis_url: str, box_key_hex: str) -> None:
    async def run() -> None:
        redis = connect(redis_url)
        try:
            if mode == "router":
                await _route_forever(redis, bytes.fromhex(box_key_hex))
            else:
                await _forward_forever(redis)
        finally:
            await redis.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@contextlib.contextmanager
def subprocess_of(mode: str, redis_url: str, box_key: bytes, logdir: Path) -> Iterator[int]:
    args = [sys.executable, "-m", "bench.latency", "--serve", mode, redis_url, box_key.hex()]
    with (logdir / f"{mode}.log").open("wb") as log:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield proc.pid
    finally:
        fanout.stop(proc)


# -- this process: the paced producer ---------------------------------------------------------------------


async def produce(redis: Redis, rate: float, seconds: float, body_bytes: int) -> list[str]:
    """XADD ``rate`` events/s for ``seconds``, each millisecond's share in one pipeline; the ids written."""
    total = int(rate * seconds)
    template = fanout.ingest_fields(fanout.ROUTE_INTEGRATION, 0, body_bytes)
    ids: list[str] = []
    started = time.perf_counter()
    while len(ids) < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        if due > len(ids):
            async with redis.pipeline(transaction=False) as pipe:
                for n in range(len(ids), due):
                    pipe.xadd(KEYS.ingest, {**template, "delivery_id": f"Ev{n}"}, maxlen=fanout.MAXLEN)
                ids += [i.decode() if isinstance(i, bytes) else str(i) for i in await pipe.execute()]
        await asyncio.sleep(TICK_S)
    return ids


async def _ready(redis: Redis, deadline_s: float = 20.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not await redis.exists(READY):
        if time.monotonic() > deadline:
            raise fanout.BenchError("the routing subprocess did not start (see its log)")
        await asyncio.sleep(0.05)


async def _arrived(redis: Redis, stream: str, count: int, deadline_s: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_s
    while int(await redis.xlen(stream)) < count:
        if time.monotonic() > deadline:
            raise fanout.BenchError(f"only {await redis.xlen(stream)} of {count} events reached {stream}")
        await asyncio.sleep(0.05)


async def _latencies(redis: Redis, stream: str, sent: Sequence[str]) -> list[int]:
    wanted = set(sent)
    samples: list[int] = []
    after = "-"
    while True:
        page = await redis.xrange(stream, min=after, count=5000)
        if not page:
            return samples
        for entry_id, fields in page:
            event = fields.get(b"event_id", b"").decode()
            if event in wanted:
                samples.append(_ms(entry_id) - _ms(event))
        after = "(" + (page[-1][0].decode() if isinstance(page[-1][0], bytes) else str(page[-1][0]))


async def _phase(mode: str, rate: float, seconds: float, body_bytes: int) -> Latency:
    box_key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="hookrouter-latency-") as tmp, fanout.redis_server(Path(tmp)) as url:
        redis = connect(url)
        try:
            stream = KEYS.triggers("wf-route") if mode == "router" else BARE_STREAM
            if mode == "router":
                await apply(Registry(redis, SecretBox(box_key)), fanout.records("http://127.0.0.1:9/hook", 1))
            with subprocess_of(mode, url, box_key, Path(tmp)):
                await _ready(redis)
                sent = await produce(redis, rate, seconds, body_bytes)
                await _arrived(redis, stream, len(sent))
            return Latency.of(await _latencies(redis, stream, sent))
        finally:
            await redis.aclose()


def measure(rate: float, seconds: float, body_bytes: int = 1024) -> tuple[Latency, Latency]:
    """(routing, bare forwarder) latency at ``rate`` events/s for ``seconds`` each."""
    bare = asyncio.run(_phase("bare", rate, seconds, body_bytes))
    routed = asyncio.run(_phase("router", rate, seconds, body_bytes))
    return routed, bare


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5000.0, help="events/s appended (default 5000)")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of load per phase (default 5)")
    parser.add_argument("--body-bytes", type=int, default=1024, help="event body size (default 1024)")
    parser.add_argument("--serve", nargs=3, metavar=("MODE", "URL", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(*args.serve)
        return 0
    try:
        routed, bare = measure(args.rate, args.seconds, args.body_bytes)
    except fanout.BenchError as exc:
        print(f"latency bench failed: {exc}", file=sys.stderr)
        return 1
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.rate:,.0f} events/s for {args.seconds} s")
    for name, lat in (("(a)  routing worker", routed), ("(a') bare forwarder", bare)):
        spread = f"p50 {lat.p50_ms:.0f} ms  p99 {lat.p99_ms:.0f} ms  max {lat.max_ms:.0f} ms"
        print(f"{name:24} {lat.events:>8,} events  {spread}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
