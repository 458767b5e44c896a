from __future__ import annotations

import pytest
from redis.asyncio import Redis

from router.delivery.runner import RunnerClient
from router.history.indexes import EventIndex
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import Seed, make_worker, running, seed_slack
from tests.router.test_ingest import post_slack, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()


@pytest.mark.parametrize(("succeeded", "expected"), [(True, "SUCCEEDED"), (False, "FAILED")])
async def test_a_runner_report_finishes_the_execution(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, succeeded: bool, expected: str
) -> None:
    await seed_slack(seed)
    async with running(settings) as http:
        await post_slack(http, slack_event())
    await make_worker(redis, registry).run_once()
    runner = RunnerClient(redis, KEYS, "wf-1", "runner-1")
    [job] = await runner.read(block_ms=0)
    index = EventIndex(redis, KEYS)
    assert await index.job_status([job.job_id]) == ["EXECUTING"]
    if succeeded:
        await runner.report_success(job)
    else:
        await runner.report_failure(job, error="step 2 raised")
    assert await index.job_status([job.job_id]) == [expected]
