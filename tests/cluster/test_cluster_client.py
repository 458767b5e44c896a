from __future__ import annotations

from typing import cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from router.storage.redis_client import cluster_nodes, connect, is_cluster
from tests.cluster.cluster import Cluster
from tests.router.conftest import make_settings, running
from tests.router.test_timing import time_every_kind_of_round_trip

pytestmark = pytest.mark.anyio


async def test_the_client_spreads_keys_over_the_masters(cluster: Cluster, cluster_redis: Redis) -> None:
    assert is_cluster(cluster_redis)
    for i in range(300):
        await cluster_redis.set(f"k{i}", i)
    client = cast(RedisCluster, cluster_redis)
    counts = [await client.dbsize(target_nodes=node) for node in client.get_primaries()]
    assert len(counts) == 3 and sum(counts) == 300 and min(counts) > 50


async def test_every_round_trip_of_the_cluster_client_is_timed_once(cluster_redis: Redis) -> None:
    """As on one Redis (tests/router/test_timing.py): commands, the pipeline (sent to the master of its slot),
    the script and the non-blocking read, each once; the blocking read not."""
    assert await time_every_kind_of_round_trip(cluster_redis) == {"replay": 6, "other": 1, "poll": 1}


async def test_one_seed_node_is_enough_to_find_the_others(cluster: Cluster, cluster_url: str) -> None:
    client = connect(f"redis+cluster://127.0.0.1:{cluster.nodes[1].port}")
    try:
        await client.set("a", 1)
        await client.set("b", 2)
        assert len(cast(RedisCluster, client).get_primaries()) == 3
        assert await client.get("a") == b"1"
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("url", "nodes"),
    [
        ("redis+cluster://a:1,b:2,c", [("a", 1), ("b", 2), ("c", 6379)]),
        ("rediss+cluster://user:pw@10.0.0.1:7000,[::1]:7001/0", [("10.0.0.1", 7000), ("::1", 7001)]),
    ],
)
def test_seed_nodes_are_read_from_the_url(url: str, nodes: list[tuple[str, int]]) -> None:
    assert cluster_nodes(url) == nodes


@pytest.mark.parametrize("url", ["redis+cluster://", "redis+cluster://a:port"])
def test_a_url_without_nodes_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="Redis Cluster URL"):
        cluster_nodes(url)


async def test_a_one_node_url_naming_a_cluster_node_fails_at_start(cluster: Cluster, cluster_url: str) -> None:
    settings = make_settings(f"redis://127.0.0.1:{cluster.masters()[0]}")
    with pytest.raises(ValueError, match="redis\\+cluster://"):
        async with running(settings):
            pass


async def test_readyz_counts_the_masters(cluster_url: str) -> None:
    async with running(make_settings(cluster_url)) as http:
        reply = await http.get("/readyz")
    assert reply.status_code == 200 and reply.json()["redis"]["ok"] and reply.json()["redis"]["masters"] == 3
