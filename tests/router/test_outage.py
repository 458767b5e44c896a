from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from router.storage.keys import Keys
from tests.conftest import start_redis
from tests.router.conftest import make_registry, make_seed, make_settings, running, seed_slack
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio


async def test_redis_down_answers_503_then_service_resumes(tmp_path: Path) -> None:
    proc = start_redis(tmp_path, appendonly=True)
    url = f"unix://{tmp_path / 'redis.sock'}"
    redis = Redis.from_url(url)
    try:
        await seed_slack(make_seed(make_registry(redis)))
        async with running(make_settings(url)) as http:
            assert (await post_slack(http, slack_event())).status_code == 200
            proc.terminate()
            proc.wait(timeout=5)
            down = await post_slack(http, slack_event(event_id="Ev2"))
            alive, ready = await http.get("/healthz"), await http.get("/readyz")
            assert (down.status_code, down.json()) == (503, {"error": "store_unavailable"})
            assert down.headers["retry-after"] == "5"
            # Liveness never depends on Redis; readiness says Redis is away.
            assert alive.status_code == 200 and ready.status_code == 503
            assert ready.json()["redis"] == {"ok": False, "error": "unavailable"}
            proc = start_redis(tmp_path, appendonly=True)
            deadline = time.monotonic() + 5
            while (back := await post_slack(http, slack_event(event_id="Ev3"))).status_code != 200:
                assert time.monotonic() < deadline, f"still {back.status_code} after Redis came back"
                await asyncio.sleep(0.05)
            deadline = time.monotonic() + 5
            while (await http.get("/readyz")).status_code != 200:  # every task's next pass succeeds
                assert time.monotonic() < deadline, (await http.get("/readyz")).json()
                await asyncio.sleep(0.05)
        # Append-only persistence kept the event accepted before the outage; the refused one was never stored.
        assert await redis.xlen(Keys().ingest) == 2
    finally:
        await redis.aclose()
        proc.terminate()
        proc.wait(timeout=5)
