"""Scripts queued in cluster pipelines: loaded where they run, on a fresh cluster and after a master lost them."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from router.errors import StoreUnavailable
from router.storage.keys import Keys
from router.storage.store import Append, EventStore, Once
from tests.cluster.cluster import Cluster, cli

pytestmark = pytest.mark.anyio
KEYS = Keys()


def once(delivery: str) -> Append:
    marker = Once(KEYS.seen("p1", "slack-app", delivery), ttl_s=60, counter=KEYS.duplicates, label="slack-app")
    return Append(KEYS.ingest, {"delivery_id": delivery}, marker)


async def test_a_script_in_a_pipeline_runs_on_a_fresh_cluster(cluster_redis: Redis) -> None:
    store = EventStore(cluster_redis, maxlen=1000, group="g", consumer="c", deadline_s=5)
    first = await store.add(once("d1"))
    again = await store.add(once("d1"))
    assert not first.duplicate and again.duplicate and again.id == first.id


async def test_a_master_that_lost_its_scripts_costs_one_refusal(cluster: Cluster, cluster_redis: Redis) -> None:
    store = EventStore(cluster_redis, maxlen=1000, group="g", consumer="c", deadline_s=5)
    await store.add(once("d1"))
    for port in cluster.masters():
        cli(port, "script", "flush")  # as a restart without its script cache would
    with pytest.raises(StoreUnavailable) as refused:
        await store.add(once("d2"))
    assert isinstance(refused.value.__cause__, NoScriptError)
    stored = await store.add(once("d2"))  # loaded again before this one: nothing was half-done by the refusal
    assert not stored.duplicate
    assert [e.fields["delivery_id"] for e in await store.scan(KEYS.ingest, count=10)] == [b"d1", b"d2"]
