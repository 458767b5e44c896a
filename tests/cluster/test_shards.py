"""Sixteen shards on a three-master cluster: a tenant's events, trigger jobs, HTTP delivery work and history index
entries land in its shard, the shards land on every master, and the history merges them back into one listing."""

from __future__ import annotations

from collections import Counter
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from router.history.indexes import EventFilter, EventIndex, score
from router.storage.keys import Keys
from router.storage.stream_id import StreamId
from tests.router.conftest import ADMIN_TOKEN, make_registry, make_seed, make_settings, running
from tests.router.test_ingest import post_slack, slack_event
from tests.router.test_shards import route_every_shard, seed_teams

pytestmark = pytest.mark.anyio
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
SHARDS = 16


def master_of(redis: Redis, key: str) -> str:
    node = cast(RedisCluster, redis).get_node_from_key(key)
    assert node is not None
    return str(node.name)


async def test_sixteen_shards_spread_every_hot_family_over_the_masters(cluster_url: str, cluster_redis: Redis) -> None:
    registry = make_registry(cluster_redis)
    await seed_teams(make_seed(registry), 48)
    settings = make_settings(cluster_url, shards=SHARDS)
    keys = Keys.of(settings)
    async with running(settings) as http:
        posted = []
        for n in range(192):
            answer = await post_slack(http, slack_event(team=f"T{n % 48}", event_id=f"Ev{n}"))
            assert answer.status_code == 200, answer.text
            posted += answer.json()["ids"]
        assert await route_every_shard(cluster_redis, registry, keys) == 192
        ids: list[str] = []
        url: str | None = "/api/events?limit=25"
        while url:
            page = (await http.get(url, headers=AUTH)).json()
            ids += [e["id"] for e in page["data"]]
            url = page.get("next")
        assert ids == sorted(posted, key=lambda i: (score(i), i), reverse=True)
    used = Counter(StreamId.parse(i, event=True).shard for i in posted)
    assert len(used) >= 12  # 48 tenants over 16 shards
    # Each shard's families share one master (one slot per tag); the shards in use sit on every master.
    masters = {master_of(cluster_redis, keys.shard(s).ingest) for s in used}
    assert len(masters) == 3
    for s in used:
        shard = keys.shard(s)
        assert master_of(cluster_redis, shard.ingest) == master_of(cluster_redis, shard.outcomes)
        assert await cluster_redis.xlen(shard.ingest) == used[s]
        assert await cluster_redis.zcard(shard.event_index("all")) == used[s]
        assert await cluster_redis.hlen(shard.outcomes) == used[s]
    assert (await EventIndex(cluster_redis, keys).query(EventFilter(), limit=1)).total == 192
