from __future__ import annotations

import pytest
from redis.asyncio import Redis

from router.storage.redis_client import connect


@pytest.mark.anyio
async def test_the_client_round_trips_binary_fields(redis_url: str, redis: Redis) -> None:
    client = connect(redis_url)
    try:
        entry = await client.xadd("s", {"body": bytes(range(256)), "n": 7, "f": 1.5})
        [(_, fields)] = await client.xrange("s")  # type: ignore[misc]
        assert fields == {b"body": bytes(range(256)), b"n": b"7", b"f": b"1.5"}
        assert entry
    finally:
        await client.aclose()
