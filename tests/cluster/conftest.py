from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis.asyncio import Redis

from router.storage.redis_client import connect
from tests.cluster.cluster import Cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three masters and three replicas on free ports of 127.0.0.1, for the whole session."""
    started = Cluster.start(tmp_path_factory.mktemp("cluster"))
    yield started
    started.stop()


@pytest.fixture
def cluster_url(cluster: Cluster) -> Iterator[str]:
    """The cluster's URL, emptied (and its script caches too) before the test and healed after it."""
    cluster.heal()
    cluster.flush()
    yield cluster.url
    cluster.heal()


@pytest.fixture
async def cluster_redis(cluster_url: str) -> AsyncIterator[Redis]:
    client = connect(cluster_url)
    yield client
    await client.aclose()
