from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.connection import Connection

from router.redis_client import FastConnection, connect

ARGS = st.lists(
    st.one_of(st.binary(max_size=300), st.text(max_size=50), st.integers(), st.floats(allow_nan=False)), max_size=20
)


@given(command=st.sampled_from(["XADD", "HSET", "CLIENT SETNAME", b"XREADGROUP"]), args=ARGS)
@settings(max_examples=300, deadline=None)
def test_hiredis_packing_is_byte_identical_to_redis_py(
    command: str | bytes, args: list[bytes | str | int | float]
) -> None:
    python, fast = Connection(), FastConnection()
    assert b"".join(fast.pack_command(command, *args)) == b"".join(python.pack_command(command, *args))


@pytest.mark.anyio
async def test_a_fast_client_round_trips_binary_fields(redis_url: str, redis: Redis) -> None:
    client = connect(redis_url)
    try:
        entry = await client.xadd("s", {"body": bytes(range(256)), "n": 7, "f": 1.5})
        [(_, fields)] = await client.xrange("s")  # type: ignore[misc]
        assert fields == {b"body": bytes(range(256)), b"n": b"7", b"f": b"1.5"}
        assert entry
    finally:
        await client.aclose()
