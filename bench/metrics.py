"""What the metrics cost the ingest path: signed Slack webhooks per second, with and without metrics, one run.

    python bench/metrics.py [--requests 4000] [--concurrency 50] [--rounds 3]

Both variants are the real application (create_app) on a throwaway redis-server, driven in-process through
httpx's ASGI transport, so the figure is the router's own work per request (verify, append, answer) and
nothing of a network stack. "without" removes the request observer (metrics, request id, access log line)
and turns every metric into a no-op; "with" is the application as served. Logging is left unconfigured (the
root logger at WARNING), so the access line is checked for and skipped in both, as when an operator sets
HOOKROUTER_ACCESS_LOG_LEVEL=DEBUG. Rounds alternate (with, without, with, ...) so that a machine getting
busier mid-run weighs on both; the best round of each is reported, and their ratio.

Every Redis round trip is timed by the client (router/storage/timing.py); the bench also reports how many a
webhook makes (appends coalesce into one pipeline per batch) and what timing one costs, measured alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from redis.asyncio import Redis

from router import metrics
from router.app import create_app
from router.ingress.observe import RequestObserver
from router.runtime.embedded import find_redis_server
from router.runtime.process import build_registry
from router.settings import Settings
from router.storage import timing
from subscriptions.config import apply, load
from subscriptions.crypto import generate_master_key

SECRET = "bench-signing-secret"
PATH = "/webhook/triggers/connect/slack/bench-slack"
CONFIG = f"""
project: {{id: bench, name: Bench}}
integrations: [{{id: bench-slack, type: slack, secrets: ["{SECRET}"]}}]
"""


class _Null:
    """A metric that records nothing: the baseline's stand-in for every metric object."""

    def labels(self, *args: Any) -> _Null:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass

    def set(self, value: float) -> None:
        pass


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "redis.sock"
        args = [find_redis_server(), "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, cwd=tmp)
        try:
            while not sock.exists():
                time.sleep(0.01)
            time.sleep(0.1)
            yield f"unix://{sock}"
        finally:
            proc.terminate()
            proc.wait()


@contextlib.asynccontextmanager
async def client(settings: Settings, *, with_metrics: bool) -> AsyncIterator[httpx.AsyncClient]:
    saved = {name: getattr(metrics, name) for name in dir(metrics) if name.isupper() and name.endswith(_METRIC_NAMES)}
    app = create_app(settings)
    if not with_metrics:
        app.user_middleware = [m for m in app.user_middleware if m.cls is not RequestObserver]
        for name in saved:
            setattr(metrics, name, _Null())
    try:
        async with LifespanManager(app) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as http:
                yield http
    finally:
        for name, metric in saved.items():
            setattr(metrics, name, metric)


_METRIC_NAMES = ("REQUESTS", "SECONDS", "FAILURES", "STORED", "HITS", "ROUTED", "DELIVERIES", "DISABLED", "BEAT")


def signed(n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"type": "event_callback", "team_id": "TB", "event_id": f"Ev{n}", "event": {"type": "x"}})
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return body.encode(), {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": sig,
        "content-type": "application/json",
    }


async def one_round(settings: Settings, *, with_metrics: bool, requests: int, concurrency: int, offset: int) -> float:
    bodies = [signed(offset + n) for n in range(requests)]
    async with client(settings, with_metrics=with_metrics) as http:
        queue = iter(bodies)

        async def drive() -> None:
            for body, headers in queue:
                answer = await http.post(PATH, content=body, headers=headers)
                if answer.status_code != 200:
                    raise SystemExit(f"unexpected {answer.status_code}: {answer.text}")

        timed = round_trips() if with_metrics else 0.0
        started = time.perf_counter()
        await asyncio.gather(*(drive() for _ in range(concurrency)))
        rps = requests / (time.perf_counter() - started)
        if with_metrics:
            ROUND_TRIPS.append((round_trips() - timed) / requests)
        return rps


ROUND_TRIPS: list[float] = []  # Redis round trips timed per webhook, per round with metrics


def round_trips() -> float:
    """Redis round trips timed so far, every operation."""
    samples = (s for family in metrics.REDIS_SECONDS.collect() for s in family.samples)
    return sum(s.value for s in samples if s.name.endswith("_count"))


async def main_async(args: argparse.Namespace) -> None:
    with redis_server() as url:
        settings = Settings(
            redis_url=url,
            master_key=SecretStr(generate_master_key()),
            run_workers=False,
            log_level="WARNING",
            dedup_window_s=0,
        )
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.yaml"
            config.write_text(CONFIG)
            async with Redis.from_url(url) as redis:
                await apply(build_registry(settings, redis), load(config))
        results: dict[bool, list[float]] = {True: [], False: []}
        offset = 0
        for _ in range(args.rounds):
            for with_metrics in (True, False):
                rps = await one_round(
                    settings,
                    with_metrics=with_metrics,
                    requests=args.requests,
                    concurrency=args.concurrency,
                    offset=offset,
                )
                offset += args.requests
                results[with_metrics].append(rps)
    best_with, best_without = max(results[True]), max(results[False])
    per_request_us = instrumentation_us()
    print(f"ingest, {args.requests} requests x {args.rounds} rounds, concurrency {args.concurrency}, in-process ASGI")
    for label, key in (("with metrics", True), ("without metrics", False)):
        rounds = ", ".join(f"{r:.0f}" for r in results[key])
        best, median = max(results[key]), statistics.median(results[key])
        print(f"  {label:16} best {best:8.0f} req/s  median {median:8.0f}  ({rounds})")
    print(f"  ratio with/without: {best_with / best_without:.3f}")
    share = per_request_us / (1e6 / best_without)
    print(f"  the metric calls one webhook makes: {per_request_us:.2f} us, {share:.2%} of a request without metrics")
    per_trip_us = timing_us()
    trips = statistics.median(ROUND_TRIPS)
    print(f"  Redis round trips timed per webhook: {trips:.3f} (median of the rounds with metrics)")
    print(f"  timing one round trip: {per_trip_us:.2f} us; per webhook {per_trip_us * trips:.2f} us")
    result = {
        "with_rps": best_with,
        "without_rps": best_without,
        "metric_calls_us": per_request_us,
        "round_trips_per_webhook": trips,
        "timing_per_round_trip_us": per_trip_us,
    }
    print("BENCH_RESULT " + json.dumps(result))


def instrumentation_us(n: int = 100_000) -> float:
    """The metric calls one accepted webhook makes (request count and duration, stored event, the append's
    Redis round trip, the request's Redis operation named), per request, less an empty loop's cost: a steadier
    figure than two noisy rates."""
    route = "/webhook/triggers/connect/{integration}/{integration_id}"

    def calls() -> None:
        metrics.REQUESTS.labels(route, "bench-slack", "200").inc()
        metrics.REQUEST_SECONDS.labels(route).observe(0.001)
        metrics.EVENTS_STORED.labels("bench-slack").inc()
        metrics.REDIS_SECONDS.labels("ingest").observe(0.0005)
        with timing.operation("ingest"):
            pass

    def nothing() -> None:
        pass

    timings = []
    for body in (calls, nothing):
        started = time.perf_counter()
        for _ in range(n):
            body()
        timings.append(time.perf_counter() - started)
    return (timings[0] - timings[1]) / n * 1e6


def timing_us(n: int = 100_000) -> float:
    """What the client adds to one round trip (the clock read twice, the operation looked up, the observation),
    less an empty loop's cost."""
    args = ("XADD", "stream", "*", "field", "value")

    def timed() -> None:
        started = time.perf_counter()
        if not timing.is_blocking_read(args):
            timing.observe_since(started)

    def nothing() -> None:
        time.perf_counter()

    timings = []
    for body in (timed, nothing):
        started = time.perf_counter()
        for _ in range(n):
            body()
        timings.append(time.perf_counter() - started)
    return (timings[0] - timings[1]) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
