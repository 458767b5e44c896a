"""Fan-out throughput of one worker process, each figure next to a baseline measured in the same run.

    python bench/fanout.py [--events 20000] [--deliveries 3000] [--concurrency 50] [--batch 100] [--body-bytes 1024]
                           [--only routing|delivery]

(a)  routing: ``--events`` Slack events preloaded into the ingest stream, then RoutingWorker.run_once in a
     loop (this process, one worker) until every one is routed to its workflow's trigger stream.
(a') baseline: the same entries XADDed to the ingest stream with a redis-py pipeline, ``--batch`` per round
     trip, on the same client: routing reads, writes a job and an outcome and acks each event, so raw XADD
     of the events themselves bounds it from above.
(b)  delivery: ``--deliveries`` events of a second integration, routed (untimed, a round's share at a time)
     to a workflow with an HTTP target, then DeliveryWorker.run_once in a loop (this process, ``--concurrency``
     attempts in flight) until every job is settled: signed POSTs to a loopback sink, limits checked, history written.
(b') baselines: the fastest bare client loop in Python we have, aiohttp's ClientSession posting the same body
     at the same concurrency (``aiohttp``), and a bare httpx.AsyncClient with the same client limits (``httpx``),
     against the same sink. The worker's client goes through the egress guard (router/egress/transport.py), as
     in production, with loopback allowed.

Each figure and its baseline run in 3 alternating rounds, summed, so a machine whose load drifts skews both
alike. CPU/item is this process's user + system time per event or POST (the sink's not counted); the delivery
line also gives redis-server's own CPU per delivery (its main thread's, from /proc/<pid>/schedstat, where there is one).

Redis is a throwaway redis-server on a unix socket in a temporary directory (never a shared Redis). The sink
is uvicorn + Starlette in a separate process, answering 200 at once. The measured part is cut off after
110 s (on a loaded machine, use smaller counts); every subprocess is stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from pydantic import BaseModel
from redis.asyncio import Redis

from router.delivery.limits import Limiter
from router.delivery.worker import DeliveryConfig, DeliveryWorker
from router.egress.policy import EgressPolicy
from router.egress.transport import guarded_client
from router.routing.worker import RoutingWorker, WorkerConfig
from router.runtime.embedded import find_redis_server
from router.runtime.heap import freeze_startup_heap
from router.storage.keys import DELIVERY_GROUP, ROUTING_GROUP, Keys
from router.storage.redis_client import connect
from router.storage.store import EventStore
from subscriptions.config import apply
from subscriptions.crypto import SecretBox
from subscriptions.models import RECORD_TYPES, activation_id
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

TEAM_ID = "TBENCH"
ROUTE_INTEGRATION = "bench-route"
HTTP_INTEGRATION = "bench-http"
RUN_TIMEOUT_S = 110.0  # everything measured; with startup and cleanup the bench stays under 2 minutes
START_TIMEOUT_S = 10.0
MAXLEN = 10_000_000  # Settings.stream_maxlen's default
KEYS = Keys()


class BenchError(Exception):
    pass


_redis_pid: int | None = None  # the throwaway redis-server, whose CPU the delivery phase also counts


def redis_cpu_s() -> float:
    """redis-server's CPU time so far: its main thread's, where it does all its work, from /proc/<pid>/schedstat
    (nanoseconds; /proc/<pid>/stat counts 10 ms ticks, coarse next to a few µs per delivery). 0.0 where /proc
    cannot tell."""
    if _redis_pid is None:
        return 0.0
    try:
        return int(Path(f"/proc/{_redis_pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    def positive(text: str) -> int:
        value = int(text)
        if value < 1:
            raise argparse.ArgumentTypeError("must be at least 1")
        return value

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=positive, default=20_000, help="events routed in (a) (default 20000)")
    parser.add_argument("--deliveries", type=positive, default=3000, help="HTTP deliveries in (b) (default 3000)")
    parser.add_argument("--concurrency", type=positive, default=50, help="attempts in flight in (b) (default 50)")
    parser.add_argument("--batch", type=positive, default=100, help="routing batch and XADD pipeline (default 100)")
    parser.add_argument("--body-bytes", type=positive, default=1024, help="Slack event body size (default 1024)")
    parser.add_argument("--only", choices=["routing", "delivery"], help="measure one of (a) and (b)")
    parser.add_argument("--serve-sink", type=int, metavar="FD", help=argparse.SUPPRESS)  # the sink subprocess
    return parser.parse_args(argv)


# -- the sink: a separate process, so its CPU is not the measured process's -----------------------------


def serve_sink(fd: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    received = 0

    async def hook(request: Request) -> Response:
        nonlocal received
        await request.body()
        received += 1
        return Response(status_code=200)

    async def count(request: Request) -> Response:
        return PlainTextResponse(str(received))

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/count", count)])
    sock = socket.socket(fileno=fd)
    uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)).run(sockets=[sock])


@contextlib.contextmanager
def sink_process(logdir: Path) -> Iterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = int(sock.getsockname()[1])
    args = [sys.executable, str(Path(__file__).resolve()), "--serve-sink", str(sock.fileno())]
    with (logdir / "sink.log").open("wb") as log:
        proc = subprocess.Popen(args, pass_fds=[sock.fileno()], stdout=log, stderr=subprocess.STDOUT)
    sock.close()  # the child has its own copy
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/count", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the sink did not start:\n" + (logdir / "sink.log").read_text(errors="replace"))
            time.sleep(0.05)
        yield base
    finally:
        stop(proc)


def sink_count(base: str) -> int:
    return int(httpx.get(base + "/count", timeout=5).text)


# -- Redis ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    sock = workdir / "redis.sock"
    args = [find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
    args += ["--dir", str(workdir), "--save", "", "--appendonly", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    global _redis_pid
    _redis_pid = proc.pid
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("redis-server did not start")
            time.sleep(0.01)
        yield f"unix://{sock}"
    finally:
        _redis_pid = None
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- setup ----------------------------------------------------------------------------------------------


def records(sink_url: str, concurrency: int) -> list[BaseModel]:
    whsec = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    target: dict[str, Any] = {
        "target": {
            "type": "http",
            "url": sink_url,
            "secrets": [whsec],
            "timeout_s": 10,
            # Limits out of the way: this measures the engine, not a throttle.
            "max_concurrency": max(concurrency * 2, 10),
            "rate_per_s": 100_000,
            "burst": 100_000,
        }
    }
    raw: list[tuple[str, dict[str, Any]]] = [("user", {"id": "bench-user"})]
    # wf-route keeps the default target (its trigger stream); wf-http POSTs to the sink.
    for integration, workflow, extra in ((ROUTE_INTEGRATION, "wf-route", {}), (HTTP_INTEGRATION, "wf-http", target)):
        cred = {"id": f"cred-{integration}", "user": "bench-user", "integration": integration, "provider_id": TEAM_ID}
        raw += [
            ("integration", {"id": integration, "type": "slack", "secrets": ["bench-signing-secret"]}),
            ("credential", cred),
            ("workflow", {"id": workflow, "integration": integration, "trigger": "*", **extra}),
            ("activation", {"id": activation_id(workflow, "bench-user"), "workflow": workflow, "user": "bench-user"}),
        ]
    return [RECORD_TYPES[kind].model_validate({"project": "bench", **item}) for kind, item in raw]


SLACK_BODY_BYTES = 1024  # about what Slack sends for a short message event (blocks, ids, authorizations)


def slack_body(event_id: str, size: int = SLACK_BODY_BYTES) -> bytes:
    """A Slack message event, its text padded so the body is ``size`` bytes (``SLACK_BODY_BYTES`` by default: the
    size the performance figures are quoted at; never less than the event's minimum)."""
    body: dict[str, Any] = {"type": "event_callback", "team_id": TEAM_ID, "event_id": event_id, "text": ""}
    body["event"] = {"type": "message", "channel": "C0BENCH", "user": "U0BENCH", "ts": "1700000000.000100"}
    minimum = len(json.dumps(body, separators=(",", ":")))
    body["text"] = "x" * max(0, size - minimum)
    return json.dumps(body, separators=(",", ":")).encode()


def ingest_fields(integration: str, n: int, size: int = 0) -> dict[Any, Any]:
    """An ingest entry as the receiver stores a Slack message event (router/ingress/webhooks.py)."""
    event_id = f"Ev{integration}{n}"
    return {
        "source": "webhook",
        "project": "bench",
        "integration": integration,
        "integration_type": "slack",
        "provider_id": TEAM_ID,
        "credential": "",
        "event_type": "message",
        "delivery_id": event_id,
        "received_at": str(int(time.time() * 1000)),
        "headers": json.dumps({"content-type": "application/json"}),
        "body": slack_body(event_id, size),
    }


ROUNDS = 3  # each figure and its baseline alternate, so a machine whose load drifts skews both alike


def split(total: int) -> list[int]:
    return [total // ROUNDS + (1 if i < total % ROUNDS else 0) for i in range(ROUNDS)]


@dataclass
class Phase:
    """Items, wall time and this process's CPU time (user + system), summed over the rounds."""

    count: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0
    redis_cpu_s: float = 0.0
    _marks: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def start(self) -> None:
        self._marks = (time.perf_counter(), time.process_time(), redis_cpu_s())

    def stop(self, count: int) -> None:
        wall, cpu, redis_cpu = self._marks
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += time.process_time() - cpu
        self.redis_cpu_s += redis_cpu_s() - redis_cpu
        self.count += count

    @property
    def rate(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_s * 1e6 / self.count if self.count else 0.0

    @property
    def redis_cpu_us(self) -> float:
        return self.redis_cpu_s * 1e6 / self.count if self.count else 0.0


async def xadd_all(redis: Redis, entries: Sequence[dict[Any, Any]], batch: int) -> None:
    """XADD ``entries`` to the ingest stream, ``batch`` per pipeline (the routing worker's XADD settings)."""
    for start in range(0, len(entries), batch):
        async with redis.pipeline(transaction=False) as pipe:
            for fields in entries[start : start + batch]:
                pipe.xadd(KEYS.ingest, fields, maxlen=MAXLEN, approximate=True)
            await pipe.execute()


# -- measuring ------------------------------------------------------------------------------------------


async def route_all(worker: RoutingWorker, count: int) -> None:
    routed = 0
    while routed < count:
        routed += await worker.run_once()


async def deliver_until(worker: DeliveryWorker, settled: int) -> None:
    while worker.settled < settled:
        await worker.run_once()


def limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency * 2, max_keepalive_connections=50)


def http_client(concurrency: int) -> httpx.AsyncClient:
    # The baseline: a bare client with the limits router/runtime/workers.py gives the delivery client.
    return httpx.AsyncClient(limits=limits(concurrency), follow_redirects=False)


def delivery_client(concurrency: int) -> httpx.AsyncClient:
    # As router/runtime/workers.py builds it: through the egress guard, which must allow the loopback sink.
    return guarded_client(EgressPolicy.parse("127.0.0.0/8"), limits=limits(concurrency))


async def bare_posts(http: httpx.AsyncClient, url: str, count: int, concurrency: int, body: bytes) -> None:
    left = count
    headers = {"content-type": "application/json"}

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            reply = await http.post(url, content=body, headers=headers, timeout=10)
            if reply.status_code != 200:
                raise BenchError(f"the sink answered {reply.status_code}")

    await asyncio.gather(*(loop() for _ in range(concurrency)))


async def aiohttp_posts(http: aiohttp.ClientSession, url: str, count: int, concurrency: int, body: bytes) -> None:
    """The fastest bare client loop in Python we know of: aiohttp, keep-alive, the reply read whole."""
    left = count
    headers = {"content-type": "application/json"}

    async def loop() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            async with http.post(url, data=body, headers=headers) as reply:
                await reply.read()
                if reply.status != 200:
                    raise BenchError(f"the sink answered {reply.status}")

    await asyncio.gather(*(loop() for _ in range(concurrency)))


async def bench_routing(args: argparse.Namespace, redis: Redis, router: RoutingWorker) -> tuple[Phase, Phase]:
    xadd, routing = Phase(), Phase()
    offset = 0
    for size in split(args.events):
        entries = [ingest_fields(ROUTE_INTEGRATION, n, args.body_bytes) for n in range(offset, offset + size)]
        offset += size
        xadd.start()
        await xadd_all(redis, entries, args.batch)
        xadd.stop(size)
        routing.start()
        await route_all(router, size)
        routing.stop(size)
    jobs = int(await redis.xlen(KEYS.triggers("wf-route")))
    if jobs != args.events:
        raise BenchError(f"{args.events} events routed into {jobs} trigger jobs: the bench config is wrong")
    return xadd, routing


async def bench_delivery(
    args: argparse.Namespace, redis: Redis, cache: SnapshotCache, router: RoutingWorker, sink: str
) -> tuple[Phase, Phase, Phase]:
    bare, fastest, delivered = Phase(), Phase(), Phase()
    body = slack_body(f"Ev{HTTP_INTEGRATION}0", args.body_bytes)
    url = sink + "/hook"
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    # As a worker process does once started (router/runtime/process.py): what setup built is set aside from the
    # garbage collector's full passes. The baselines below run in this process too, and get the same.
    freeze_startup_heap()
    async with (
        http_client(args.concurrency) as http,
        delivery_client(args.concurrency) as guarded,
        aiohttp.ClientSession(connector=connector) as session,
    ):
        await bare_posts(http, url, min(args.deliveries, 500), args.concurrency, body)  # warm-up
        await bare_posts(guarded, url, min(args.deliveries, 500), args.concurrency, body)
        await aiohttp_posts(session, url, min(args.deliveries, 500), args.concurrency, body)
        before = sink_count(sink)
        worker = DeliveryWorker(
            EventStore(redis, maxlen=MAXLEN, group=DELIVERY_GROUP, consumer="bench"),
            cache,
            KEYS,
            Limiter(redis, KEYS),
            guarded,
            DeliveryConfig(batch=args.concurrency, block_ms=1, in_flight=args.concurrency),
        )
        offset = 0
        for size in split(args.deliveries):
            # This round's jobs, routed before the clock starts: the worker sees exactly ``size`` of them.
            entries = [ingest_fields(HTTP_INTEGRATION, n, args.body_bytes) for n in range(offset, offset + size)]
            await xadd_all(redis, entries, args.batch)
            await route_all(router, size)
            offset += size
            bare.start()
            await bare_posts(http, url, size, args.concurrency, body)
            bare.stop(size)
            fastest.start()
            await aiohttp_posts(session, url, size, args.concurrency, body)
            fastest.stop(size)
            done = worker.settled
            delivered.start()
            await deliver_until(worker, done + size)
            delivered.stop(worker.settled - done)
    posted = sink_count(sink) - before - bare.count - fastest.count
    dead = int(await redis.xlen(KEYS.delivery_dead))
    if posted != args.deliveries or dead:
        raise BenchError(f"{posted} POSTs and {dead} dead letters for {args.deliveries} jobs")
    return bare, fastest, delivered


async def bench(args: argparse.Namespace, redis_url: str, sink: str) -> dict[str, Phase]:
    redis = connect(redis_url)
    try:
        registry = Registry(redis, SecretBox(secrets.token_bytes(32)))
        await apply(registry, records(sink + "/hook", args.concurrency))
        cache = SnapshotCache(registry, refresh_s=0.25)
        await cache.refresh()
        store = EventStore(redis, maxlen=MAXLEN, group=ROUTING_GROUP, consumer="bench")
        router = RoutingWorker(store, cache, KEYS, WorkerConfig(batch=args.batch, block_ms=1))
        phases: dict[str, Phase] = {}
        if args.only in (None, "routing"):
            phases["xadd"], phases["routing"] = await bench_routing(args, redis, router)
        if args.only in (None, "delivery"):
            delivery = await bench_delivery(args, redis, cache, router, sink)
            phases["bare"], phases["aiohttp"], phases["delivery"] = delivery
        return phases
    finally:
        await redis.aclose()


def report(args: argparse.Namespace, p: dict[str, Phase]) -> None:
    def row(name: str, phase: Phase, unit: str, base: Phase | None = None, label: str = "") -> str:
        ratio = f"{phase.rate / base.rate:6.1%} of {label}" if base else ""
        return f"{name:<40} {phase.rate:>9,.0f} {unit:<9} {phase.cpu_us:>8,.0f} us CPU/item   {ratio}"

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"{args.events} events routed, {args.deliveries} deliveries, in {ROUNDS} alternating rounds")
    if "routing" in p:
        print(row(f"(a') raw XADD, pipelines of {args.batch}", p["xadd"], "events/s"))
        print(row(f"(a)  routing, 1 worker, batch {args.batch}", p["routing"], "events/s", p["xadd"], "(a')"))
    if "delivery" in p:
        print(row(f"(b') bare aiohttp POSTs, {args.concurrency} concurrent", p["aiohttp"], "POST/s"))
        print(row(f"     bare httpx POSTs, {args.concurrency} concurrent", p["bare"], "POST/s"))
        name = f"(b)  delivery, 1 worker, {args.concurrency} in flight"
        print(row(name, p["delivery"], "POST/s", p["aiohttp"], "(b') aiohttp"))
        print(f"{'     redis-server, same deliveries':<40} {'':>19} {p['delivery'].redis_cpu_us:>8,.0f} us CPU/item")


async def bounded(run: Coroutine[Any, Any, dict[str, Phase]]) -> dict[str, Phase]:
    try:
        return await asyncio.wait_for(run, RUN_TIMEOUT_S)
    except TimeoutError:
        raise BenchError(f"not done within {RUN_TIMEOUT_S:.0f} s: try fewer --events or --deliveries") from None


def measure(args: argparse.Namespace) -> dict[str, Phase]:
    """Every phase ``args`` asks for, on a throwaway Redis and sink; BenchError when a phase goes wrong."""
    with (
        tempfile.TemporaryDirectory(prefix="hookrouter-fanout-") as tmp,
        redis_server(Path(tmp)) as redis_url,
        sink_process(Path(tmp)) as sink,
    ):
        return asyncio.run(bounded(bench(args, redis_url, sink)))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_sink is not None:
        serve_sink(args.serve_sink)
        return 0
    try:
        phases = measure(args)
    except BenchError as exc:
        print(f"fanout bench failed: {exc}", file=sys.stderr)
        return 1
    report(args, phases)
    return 0


if __name__ == "__main__":
    sys.exit(main())
