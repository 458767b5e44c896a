"""``hookrouter events list|show|tail`` and ``hookrouter replay``, run as a user would: real processes, real Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from router.history.replay_jobs import ReplayJobs
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from tests.router.conftest import MASTER_KEY, TEAM, Seed, seed_slack, xrange_all
from tests.router.test_cli import cli_env, hookrouter
from tests.router.test_replay import post_events, route_all, seed_without_credential

pytestmark = pytest.mark.anyio
KEYS = Keys()


def env(redis_url: str) -> dict[str, str]:
    return cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, PYTHONUNBUFFERED="1", COLUMNS="200")


async def client_ids(redis: Redis) -> set[str]:
    return {str(client["id"]) for client in await redis.client_list()}


async def until_polling(redis: Redis, ours: set[str], proc: subprocess.Popen[Any]) -> None:
    """Until `events tail` has read where the stream ends: it polls with XRANGE only after that XREVRANGE.

    Redis reports each connection's last command, so a new connection whose last command is XRANGE is the tail
    polling; an event added from then on is new to it.
    """
    deadline = time.monotonic() + 20
    while True:
        polling = [c for c in await redis.client_list() if str(c["id"]) not in ours and c.get("cmd") == "xrange"]
        if polling:
            return
        assert proc.poll() is None, "events tail exited before polling"
        assert time.monotonic() < deadline, "events tail did not poll the stream in 20 s"
        await asyncio.sleep(0.01)


async def test_events_list_and_show(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    await seed_slack(seed)
    ids = await post_events(settings, 3)
    await route_all(redis, registry)
    listed = hookrouter(
        "events", "list", "--integration", "slack-app", "--limit", "2", env=env(redis_url), cwd=tmp_path
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert ids[2] in listed.stdout and ids[1] in listed.stdout and ids[0] not in listed.stdout
    assert "2 of 3 matching events" in listed.stdout and "routed" in listed.stdout
    none = hookrouter("events", "list", "--status", "unmatched", "--since", "1h", env=env(redis_url), cwd=tmp_path)
    assert none.returncode == 0 and "0 of 0 matching events" in none.stdout
    shown = hookrouter("events", "show", ids[0], env=env(redis_url), cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["id"] == ids[0] and detail["status"] == "routed" and detail["routing"]["status"] == "matched"
    assert [j["workflow"] for j in detail["jobs"]] == ["wf-1"] and json.loads(detail["body"])["event_id"] == "Ev0"
    missing = hookrouter("events", "show", "1-0", env=env(redis_url), cwd=tmp_path)
    assert missing.returncode == 1 and missing.stderr == "hookrouter: no stored event 1-0\n"
    bad = hookrouter("events", "list", "--since", "yesterday", env=env(redis_url), cwd=tmp_path)
    assert bad.returncode == 2 and "ISO date" in bad.stderr


async def test_events_tail_prints_new_events(redis: Redis, redis_url: str, tmp_path: Path) -> None:
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="t")
    await store.append(KEYS.ingest, {"integration": "old", "received_at": "1"})
    args = [sys.executable, "-m", "router", "events", "tail", "--interval-s", "0.05", "--stop-after-s", "4"]
    ours = await client_ids(redis)
    proc = subprocess.Popen(
        args, env=env(redis_url), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stderr is not None
        assert "following new events" in proc.stderr.readline()  # on stderr: stdout is only events
        await until_polling(redis, ours, proc)
        new = await store.append(KEYS.ingest, {"integration": "fresh", "event_type": "push", "received_at": "2"})
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert new in out and "fresh" in out and "old" not in out


async def test_stored_values_are_printed_as_text_not_markup(
    redis: Redis, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    # Event types and provider ids come from webhook bodies: Rich must print them, not interpret them.
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="t")
    hostile = {
        "integration": "[bold]int[/bold]",
        "event_type": "task.[/]",
        "provider_id": "[red]T1",
        "received_at": "1",
    }
    stored = await store.append(KEYS.ingest, hostile)
    await route_all(redis, registry)  # writes the indexes `events list` reads
    listed = hookrouter("events", "list", env=env(redis_url), cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert stored in listed.stdout and "task.[/]" in listed.stdout and "[red]T1" in listed.stdout
    assert "[bold]int[/bold]" in listed.stdout
    args = [sys.executable, "-m", "router", "events", "tail", "--interval-s", "0.05", "--stop-after-s", "3"]
    ours = await client_ids(redis)
    proc = subprocess.Popen(args, env=env(redis_url), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None and b"following new events" in proc.stderr.readline()
        await until_polling(redis, ours, proc)
        new = await store.append(KEYS.ingest, {**hostile, "event_type": "[/]oops", "received_at": "2"})
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()
    assert new.encode() in out and b"[/]oops" in out and b"[bold]int[/bold]" in out


async def test_replay_reroutes_with_a_progress_bar_and_a_summary_once_per_request_id(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    await seed_without_credential(seed)
    [event_id] = await post_events(settings, 1)
    await route_all(redis, registry)
    await seed(
        credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "provider_id": TEAM}],
        activate=[("wf-1", "u1")],
    )
    args = ("replay", "--since", "1h", "--integration", "slack-app", "--status", "unmatched", "--request-id", "cli-1")
    dry = hookrouter(*args[:-1], "cli-dry", "--dry-run", env=env(redis_url), cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "dry run: nothing was written" in dry.stdout and await redis.xlen(KEYS.ingest) == 1
    first = hookrouter(*args, env=env(redis_url), cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "replaying" in first.stdout and "1/1" in first.stdout  # the progress bar, at its end
    assert "replay summary" in first.stdout and "events/s" in first.stdout and "status: done" in first.stdout
    job = await ReplayJobs(redis, KEYS).get("cli-1")
    assert job is not None and (job.counts.matched, job.counts.replayed, job.counts.failed) == (1, 1, 0)
    second = hookrouter(*args, env=env(redis_url), cwd=tmp_path)
    assert second.returncode == 0 and "already ran" in second.stdout
    [_, (_, copy)] = await xrange_all(redis, KEYS.ingest)
    assert copy[b"replay_of"].decode() == event_id and copy[b"replay"] == b"cli-1"
    await route_all(redis, registry)
    conflict = hookrouter("replay", "--event-id", event_id, "--request-id", "cli-1", env=env(redis_url), cwd=tmp_path)
    assert conflict.returncode == 2 and "other parameters" in conflict.stderr


async def test_replay_redelivers_one_event_and_validates_its_options(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, redis_url: str, tmp_path: Path
) -> None:
    await seed_slack(seed)
    [event_id] = await post_events(settings, 1)
    await route_all(redis, registry)
    done = hookrouter("replay", "--event-id", event_id, "--mode", "redeliver", env=env(redis_url), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    replayed = [f for _, f in await xrange_all(redis, KEYS.triggers("wf-1"))][-1]
    assert replayed[b"replay_of"].decode() == event_id and replayed[b"job_id"].startswith(event_id.encode())
    no_range = hookrouter("replay", env=env(redis_url), cwd=tmp_path)
    assert no_range.returncode == 2 and "--since" in no_range.stderr
    bad_mode = hookrouter("replay", "--since", "2d", "--mode", "again", env=env(redis_url), cwd=tmp_path)
    assert bad_mode.returncode == 2 and "reroute" in bad_mode.stderr
