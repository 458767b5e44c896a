"""How evenly hookrouter's keys and commands spread over the masters of a Redis Cluster.

    python bench/cluster_spread.py [--url redis+cluster://host:port,...] [--events 2000] [--integrations 16]
                                   [--tenants 256] [--shards 16]

Without ``--url`` a throwaway cluster of three masters (one replica each) is started on free ports of 127.0.0.1
(``tests/cluster/cluster.py``, ``redis-server`` and ``redis-cli`` from PATH) and stopped at the end. Against
``--url`` every master is emptied first: never point it at a cluster that holds data.

(a)  hookrouter with ``HOOKROUTER_SHARDS=--shards``: ``--events`` signed Slack webhooks, spread over
     ``--integrations`` integrations (a workflow each) and ``--tenants`` tenants (provider IDs, a credential
     each), posted to the app in this process with its workers running, until every event is routed to its
     workflow's trigger stream. Counted per master afterwards: keys (DBSIZE) and commands (the sum of
     ``INFO commandstats`` calls since a CONFIG RESETSTAT before the run), and the keys of each key family.
(a') baseline: as many keys as (a) left, with random names (no hash tag), SET on the same cluster: how even
     "even" is for this slot map.

Printed: each master's share of keys and commands, the largest deviation from an even share (the goal is
within ±20 %), and its ratio to the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from router.app import create_app
from router.settings import Settings
from router.storage.keys import Keys
from router.storage.redis_client import connect
from subscriptions.config import apply
from subscriptions.crypto import SecretBox
from subscriptions.models import RECORD_TYPES, activation_id
from subscriptions.registry import Registry

SECRET = "bench-signing-secret"
MASTER_KEY = bytes(range(32))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="", help="an existing cluster (emptied first); default: start one")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--integrations", type=int, default=16)
    parser.add_argument("--tenants", type=int, default=256)
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=50)
    return parser.parse_args(argv)


def records(integrations: int, tenants: int) -> list[Any]:
    raw: list[tuple[str, dict[str, Any]]] = [("user", {"id": "bench-user"})]
    for n in range(integrations):
        integration, workflow = f"slack-{n}", f"wf-{n}"
        raw += [
            ("integration", {"id": integration, "type": "slack", "secrets": [SECRET]}),
            ("workflow", {"id": workflow, "integration": integration, "trigger": "*"}),
            ("activation", {"id": activation_id(workflow, "bench-user"), "workflow": workflow, "user": "bench-user"}),
        ]
    for t in range(tenants):  # tenant t connects through integration t % integrations
        integration = f"slack-{t % integrations}"
        credential = {"id": f"cred-{t}", "user": "bench-user", "integration": integration, "provider_id": f"T{t}"}
        raw.append(("credential", credential))
    return [RECORD_TYPES[kind].model_validate({"project": "bench", **item}) for kind, item in raw]


def signed_post(n: int, integrations: int, tenants: int) -> tuple[str, bytes, dict[str, str]]:
    tenant = n % tenants
    body = json.dumps({"type": "event_callback", "team_id": f"T{tenant}", "event_id": f"Ev{n}",
                       "event": {"type": "message"}}).encode()  # fmt: skip
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": ts, "x-slack-signature": "v0=" + digest, "content-type": "application/json"}
    return f"/webhook/triggers/connect/slack/slack-{tenant % integrations}", body, headers


def masters(redis: Redis) -> list[ClusterNode]:
    return sorted(cast(RedisCluster, redis).get_primaries(), key=lambda node: node.name)


async def per_master(redis: Redis, command: str, *args: Any) -> list[Any]:
    """``command`` sent to each master on a connection of its own, in the order of ``masters``."""
    replies = []
    for node in masters(redis):
        client = Redis(host=node.host, port=node.port)
        try:
            replies.append(await client.execute_command(command, *args))
        finally:
            await client.aclose()
    return replies


async def commands(redis: Redis) -> list[int]:
    stats = await per_master(redis, "INFO", "commandstats")
    # CONFIG, INFO and CLUSTER are this script's and the client's bookkeeping, not the router's work.
    own = ("cmdstat_config", "cmdstat_info", "cmdstat_cluster", "cmdstat_command")
    return [sum(int(v["calls"]) for k, v in s.items() if k.startswith("cmdstat_") and not k.startswith(own))
            for s in stats]  # fmt: skip


def family(name: str) -> str:
    """hr:{ingest}:events → {ingest}:events; per-id tags ({wf:x}, {tgt:x}) fold into one family ({wf}:triggers)."""
    tail = name.split(":", 1)[1] if ":" in name else name
    tag, _, rest = tail.partition("}")
    return tag.split(":", 1)[0] + "}" + ":".join(rest.split(":")[:2])


async def families(redis: Redis) -> list[Counter[str]]:
    found: list[Counter[str]] = []
    for node in masters(redis):
        client = Redis(host=node.host, port=node.port)
        try:
            found.append(Counter([family(name.decode()) async for name in client.scan_iter(count=1000)]))
        finally:
            await client.aclose()
    return found


def deviation(counts: Sequence[int]) -> float:
    """Largest distance of one master's share from an even share, in % of the even share."""
    total = sum(counts)
    even = total / len(counts) if counts else 0
    return max(abs(c - even) / even * 100 for c in counts) if even else 0.0


async def hookrouter_run(url: str, args: argparse.Namespace, redis: Redis) -> tuple[float, list[int], list[int]]:
    await per_master(redis, "FLUSHALL")
    registry = Registry(redis, SecretBox(MASTER_KEY))
    await apply(registry, records(args.integrations, args.tenants))
    await per_master(redis, "CONFIG", "RESETSTAT")
    settings = Settings(redis_url=url, master_key=SecretStr(__import__("base64").b64encode(MASTER_KEY).decode()),
                        admin_token=SecretStr(secrets.token_hex(16)), run_workers=True, consumer_name="bench",
                        public_url="http://bench.test", route_block_ms=100, shards=args.shards)  # fmt: skip
    keys = Keys.of(settings)
    app = create_app(settings)
    started = time.perf_counter()
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as http:
            queue = list(range(args.events))

            async def sender() -> None:
                while queue:
                    path, body, headers = signed_post(queue.pop(), args.integrations, args.tenants)
                    reply = await http.post(path, content=body, headers=headers)
                    if reply.status_code != 200:
                        raise RuntimeError(f"webhook answered {reply.status_code}")

            await asyncio.gather(*(sender() for _ in range(args.concurrency)))
            while sum([await redis.hlen(k.outcomes) for k in keys.every_shard]) < args.events:  # every event routed
                await asyncio.sleep(0.1)
    took_s = time.perf_counter() - started
    return took_s, [int(n) for n in await per_master(redis, "DBSIZE")], await commands(redis)


async def baseline(redis: Redis, keys: int) -> list[int]:
    await per_master(redis, "FLUSHALL")
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(keys):
            pipe.set(f"baseline:{secrets.token_hex(8)}", 1)
        await pipe.execute()
    return [int(n) for n in await per_master(redis, "DBSIZE")]


async def run(url: str, args: argparse.Namespace) -> None:
    redis = connect(url, deadline_s=10)
    try:
        await redis.ping()  # the client learns the slot map and the masters with its first command
        names = [node.name for node in masters(redis)]
        took_s, keys, calls = await hookrouter_run(url, args, redis)
        kinds = await families(redis)
        even = await baseline(redis, sum(keys))
    finally:
        await redis.aclose()
    print(f"{args.events} events over {args.integrations} integrations and {args.tenants} tenants, "
          f"{args.shards} shards, routed in {took_s:.1f} s\n")  # fmt: skip
    print(f"{'master':<22}{'keys':>8}{'share':>8}{'commands':>10}{'share':>8}{'baseline keys':>15}")
    for name, k, c, b in zip(names, keys, calls, even, strict=True):
        print(f"{name:<22}{k:>8}{k / sum(keys):>8.0%}{c:>10}{c / sum(calls):>8.0%}{b:>15}")
    base = deviation(even)
    for label, counts in (("keys", keys), ("commands", calls)):
        dev = deviation(counts)
        verdict = "within" if dev <= 20 else "OUTSIDE"
        print(f"\n{label}: largest deviation from even {dev:.0f} % ({verdict} ±20 %), baseline {base:.0f} %, "
              f"ratio {dev / base if base else float('inf'):.1f}×")  # fmt: skip
    print("\nkey families per master (most keys first):")
    for name, counts in zip(names, kinds, strict=True):
        print(f"  {name}: " + ", ".join(f"{family} {n}" for family, n in counts.most_common(6)))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.url:
        asyncio.run(run(args.url, args))
        return 0
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the test suite's cluster helper
    from tests.cluster.cluster import Cluster

    cluster = Cluster.start(Path(tempfile.mkdtemp(prefix="cluster-spread-")))
    try:
        asyncio.run(run(cluster.url, args))
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
