"""What counting traffic costs the ingest path: stored-event appends per second with and without ``Counted``.

    python bench/counted.py [--events 20000] [--concurrency 200] [--rounds 3]

The receiver's append path (``EventStore.add``: concurrent appends coalesced into one pipeline per loop turn,
each with its append-once marker, as a webhook with a delivery id is stored) against a throwaway redis-server on a
unix socket in a temporary directory (never a shared Redis). Each round runs the baseline store (no counts) and
the counting one (``router/history/stats.py``: the count made by the same script that appends) on an emptied
database, alternating, so both meet the same machine. Printed: appends/s of each and the ratio, per round and
the median; and Redis's own microseconds per append script (``INFO commandstats``), the server's share of the
cost, which the shared machine's noise touches less. Commands per pipeline are the same: the count adds none.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from redis.asyncio import Redis

from router.history import stats
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import Append, EventStore, Once


async def _run(redis: Redis, keys: Keys, *, counted: bool, events: int, concurrency: int) -> tuple[float, float]:
    """Appends per second, and Redis's microseconds per append script."""
    await redis.flushdb()
    await redis.config_resetstat()
    store = EventStore(
        redis,
        maxlen=10_000_000,
        group=ROUTING_GROUP,
        consumer="bench",
        counted=stats.counted(keys) if counted else None,
    )
    body = b"x" * 1024
    sem = asyncio.Semaphore(concurrency)

    async def one(n: int) -> None:
        async with sem:
            fields: dict[str, str | bytes | int] = {
                "project": "bench",
                "integration": "slack",
                "delivery_id": f"Ev{n}",
                "body": body,
            }
            once = Once(keys.seen("bench", "slack", f"Ev{n}"), 3600, keys.duplicates, "slack")
            await store.add(Append(keys.ingest, fields, once))

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(events)))
    elapsed = time.perf_counter() - started
    if await redis.xlen(keys.ingest) != events:
        raise SystemExit("not every event was stored")
    if counted:
        minutes = await redis.keys(keys.stats("*"))
        total = sum([int(await redis.hget(m, "stored") or 0) for m in minutes])
        if total != events:
            raise SystemExit(f"counted {total} of {events} stored events")
    # Redis's own time per append (the script, XADD and counts inside it): what the count costs the server.
    script = (await redis.info("commandstats"))["cmdstat_evalsha"]
    return events / elapsed, float(script["usec_per_call"])


async def main(args: argparse.Namespace) -> None:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not on PATH")
    with tempfile.TemporaryDirectory() as tmp:
        sock = str(Path(tmp) / "redis.sock")
        proc = subprocess.Popen(
            [server, "--port", "0", "--unixsocket", sock, "--save", "", "--appendonly", "no", "--dir", tmp],
            stdout=subprocess.DEVNULL,
        )
        try:
            redis = Redis(unix_socket_path=sock)
            for _ in range(100):
                try:
                    await redis.ping()
                    break
                except OSError:
                    await asyncio.sleep(0.05)
            keys = Keys()
            ratios: list[float] = []
            in_redis: list[float] = []
            size = {"events": args.events, "concurrency": args.concurrency}
            for round_ in range(1, args.rounds + 1):
                base, base_us = await _run(redis, keys, counted=False, **size)
                with_counts, counted_us = await _run(redis, keys, counted=True, **size)
                ratios.append(with_counts / base)
                in_redis.append(counted_us / base_us)
                print(
                    f"round {round_}: baseline {base:,.0f} appends/s ({base_us:.1f} us in Redis each), counted "
                    f"{with_counts:,.0f} appends/s ({counted_us:.1f} us), ratio {ratios[-1]:.3f} ({in_redis[-1]:.2f})"
                )
            print(
                f"median ratio counted/baseline: {statistics.median(ratios):.3f} in appends/s, "
                f"{statistics.median(in_redis):.2f} in Redis time per append"
            )
            await redis.aclose()
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
