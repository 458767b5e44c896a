"""``hookrouter forward``: a workflow's trigger jobs to a local URL, run as a developer would, against a loopback sink
and real Redis; and the observer group it reads in, which the runners and the acked-entry trim do not feel."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

import verifiers
from router.delivery.runner import RunnerClient
from router.delivery.signing import generate_secret
from router.settings import Settings
from router.storage.keys import OBSERVER_GROUP, RUNNER_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from tests.router.conftest import Seed, seed_slack
from tests.router.loopback import http_sink
from tests.router.test_cli import hookrouter
from tests.router.test_cli_habits import one_line, store_env
from tests.router.test_replay import post_events, route_all

pytestmark = pytest.mark.anyio
KEYS = Keys()
STREAM = KEYS.triggers("wf-1")


async def group_names(redis: Redis, stream: str) -> set[str]:
    if not await redis.exists(stream):
        return set()
    return {g["name"].decode() for g in await redis.xinfo_groups(stream)}


async def until(check: object, what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_forward_posts_signed_jobs_redelivers_a_500_and_acks_once(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    await seed_slack(seed)
    runner = RunnerClient(redis, KEYS, "wf-1", "runner-1")
    assert await runner.read(block_ms=0) == []  # a production runner reads the stream in its group
    secret = generate_secret()
    with http_sink(500, 200) as sink:
        args = ["forward", "--workflow", "wf-1", "--to", sink.url(), "--retry-s", "0.5", "--secret", secret]
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", *args],
            env=store_env(redis_url),
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:

            async def joined() -> bool:
                assert proc.poll() is None, proc.communicate()
                return OBSERVER_GROUP in await group_names(redis, STREAM)

            await until(joined, "forward did not join the trigger stream")
            [event_id] = await post_events(settings, 1)
            await route_all(redis, registry)
            first, second = await sink.received_async(2, timeout_s=20)

            async def settled() -> bool:
                return bool((await redis.xpending(STREAM, OBSERVER_GROUP))["pending"] == 0)

            await until(settled, "forward did not ack the job")
            await asyncio.sleep(1.0)  # past --retry-s: an acked job is not sent again
            assert len(sink.received) == 2
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 0, err
    job_id = f"{event_id}:wf-1:cred-u1"
    lines = out.splitlines()
    assert len(lines) == 2 and all(job_id in line for line in lines), out
    assert "-> 500" in lines[0] and "pending, sent again in 0.5 s" in lines[0]
    assert "-> 200" in lines[1] and lines[1].endswith("acked")
    assert "egress policy does not apply to --to" in err and "stopped: 2 sent, 1 acked" in err
    # Both attempts are one message (the same webhook-id), each signed afresh with the given secret.
    assert first.headers["webhook-id"] == second.headers["webhook-id"] and first.body == second.body
    for request in (first, second):
        verifiers.verify("standard_webhooks", secrets=[secret], headers=request.headers, body=request.body)
    assert b'"event_id":"Ev0"' in first.body.replace(b" ", b"")
    # The runners' group still has the job, and the observer's group left with the command.
    [job] = await runner.read(block_ms=0)
    assert job.job_id == job_id
    assert await group_names(redis, STREAM) == {RUNNER_GROUP}


async def test_forward_refuses_an_unknown_workflow_and_a_bad_secret(seed: Seed, redis_url: str, tmp_path: Path) -> None:
    await seed_slack(seed)
    env = store_env(redis_url)
    unknown = hookrouter("forward", "-w", "wf-nope", "--to", "http://localhost:3000/hook", env=env, cwd=tmp_path)
    assert one_line(unknown) == "hookrouter: no workflow 'wf-nope' in the registry (hookrouter apply adds workflows)"
    bad = hookrouter(
        "forward", "-w", "wf-1", "--to", "http://localhost:3000/hook", "--secret", "hunter2", env=env, cwd=tmp_path
    )
    assert one_line(bad) == "hookrouter: Invalid value for --secret: a signing secret starts with whsec_"


async def test_the_acked_entry_trim_ignores_the_observer_group(redis: Redis) -> None:
    store = EventStore(redis, maxlen=1000, group=OBSERVER_GROUP, consumer="laptop")
    await store.ensure_group(STREAM, start="$")
    ids = [await store.append(STREAM, {"n": str(n)}) for n in range(3)]
    read = await store.read_new(STREAM, count=10, block_ms=0)
    await store.ack(STREAM, [e.id for e in read])
    # Only the observer read them: kept for the runner to come, as on a stream no group reads.
    assert await store.trim_acked([STREAM]) == 0 and await redis.xlen(STREAM) == 3
    runners = EventStore(redis, maxlen=1000, group=RUNNER_GROUP, consumer="r1")
    await runners.ensure_group(STREAM)
    [first, *_] = await runners.read_new(STREAM, count=10, block_ms=0)
    await runners.ack(STREAM, [first.id])
    await store.ensure_group(STREAM, start="$")  # already there: left as it is
    # The runners acked the first; the observer holds nothing back.
    assert await store.trim_acked([STREAM]) == 1 and [e.id for e in await store.scan(STREAM, after="0-0")] == ids[1:]
    await store.leave_group(STREAM)
    assert await group_names(redis, STREAM) == {RUNNER_GROUP}
