from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from router.admin import replay as replay_routes
from router.history.indexes import EventFilter
from router.history.replay import ReplayConfig, Replayer, ReplayRunner
from router.history.replay_jobs import MODES, ReplayConflict, ReplayJob, ReplayJobs, ReplayRequest, parse_when
from router.runtime.supervisor import Supervisor, Task
from router.runtime.trimming import AckedTrim
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.router.conftest import ADMIN_TOKEN, TEAM, Seed, make_worker, running, seed_slack, xrange_all
from tests.router.schema_support import body_schemas, component, fits, operation, parameters
from tests.router.test_ingest import jobs, outcome, post_slack, slack_event
from tests.router.waiting import eventually

pytestmark = pytest.mark.anyio
KEYS = Keys()
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
FAST = ReplayConfig(rate_per_s=None, backlog_max=None)
WHSEC = "whsec_" + base64.b64encode(b"0123456789abcdef").decode()


def replayer(redis: Redis, registry: Registry, config: ReplayConfig = FAST) -> Replayer:
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="replay")
    return Replayer(store, KEYS, ReplayJobs(redis, KEYS), SnapshotCache(registry, refresh_s=0.05), config)


async def replay(redis: Redis, registry: Registry, request: ReplayRequest, config: ReplayConfig = FAST) -> ReplayJob:
    await ReplayJobs(redis, KEYS).create(request, queue=False)
    job = await replayer(redis, registry, config).run(request.request_id)
    assert job is not None
    return job


async def post_events(settings: Settings, count: int, *, first: int = 0) -> list[str]:
    ids = []
    async with running(settings) as http:
        for n in range(first, first + count):
            ids += (await post_slack(http, slack_event(event_id=f"Ev{n}"))).json()["ids"]
    return ids


async def route_all(redis: Redis, registry: Registry) -> None:
    worker = make_worker(redis, registry)
    while await worker.run_once():
        pass


async def seed_without_credential(seed: Seed) -> None:
    await seed(
        integration=[{"id": "slack-app", "type": "slack", "secrets": ["slack-signing-secret"]}],
        user=[{"id": "u1"}],
        workflow=[{"id": "wf-1", "name": "On message", "integration": "slack-app", "trigger": "*"}],
    )


async def test_reroute_routes_an_event_that_arrived_before_its_credential(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_without_credential(seed)
    [event_id] = await post_events(settings, 1)
    await route_all(redis, registry)
    assert (await outcome(redis, event_id))["status"] == "no_credential"
    await seed(
        credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "provider_id": TEAM}],
        activate=[("wf-1", "u1")],
    )
    flt = EventFilter(integration="slack-app", status="unmatched")
    job = await replay(redis, registry, ReplayRequest("r1", filter=flt))
    assert job.status == "done"
    assert (job.counts.matched, job.counts.replayed, job.counts.skipped, job.counts.failed) == (1, 1, 0, 0)
    original, copy = await xrange_all(redis, KEYS.ingest)
    assert copy[1][b"replay_of"].decode() == event_id and copy[1][b"replay"] == b"r1"
    assert {k: v for k, v in copy[1].items() if k not in (b"replay_of", b"replay")} == original[1]
    await route_all(redis, registry)
    copy_id = copy[0].decode()
    assert (await outcome(redis, copy_id))["status"] == "matched"
    [job_fields] = await jobs(redis)
    assert job_fields[b"event_id"].decode() == copy_id and job_fields[b"credential"] == b"cred-u1"
    # A second replay of the same window skips the copy: replaying replays would multiply events.
    again = await replay(redis, registry, ReplayRequest("r2", filter=EventFilter(integration="slack-app")))
    assert (again.counts.replayed, again.counts.reasons) == (1, {"is_a_replay": 1})
    # The work streams' acked-entry trim leaves the history alone: both events were routed (acked), and stay.
    await AckedTrim(EventStore(redis, maxlen=100_000, group="trim", consumer="t"), KEYS).run_once()
    kept = [entry_id for entry_id, _ in await xrange_all(redis, KEYS.ingest)]
    assert kept[:2] == [event_id.encode(), copy[0]] and len(kept) == 3  # r2's copy too


async def seed_two_targets(seed: Seed) -> None:
    await seed_slack(seed)
    await seed(
        workflow=[
            {
                "id": "wf-http",
                "name": "To HTTP",
                "integration": "slack-app",
                "trigger": "*",
                "target": {"type": "http", "url": "http://127.0.0.1:9/hook", "secrets": [WHSEC]},
            }
        ],
        activate=[("wf-http", "u1")],
    )


async def test_redeliver_recreates_exactly_the_original_jobs_and_marks_them(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_two_targets(seed)
    [event_id, _] = await post_events(settings, 2)
    await route_all(redis, registry)
    [stream_job] = [f for f in await jobs(redis) if f[b"event_id"].decode() == event_id]
    [http_job] = [f for _, f in await xrange_all(redis, KEYS.delivery_jobs) if f[b"event_id"].decode() == event_id]
    job = await replay(redis, registry, ReplayRequest("again", mode="redeliver", event_id=event_id))
    assert (job.counts.matched, job.counts.replayed, job.counts.jobs) == (1, 1, 2)
    marks = (b"job_id", b"replay_of", b"replay_of_job", b"replay")
    for stream, original in ((KEYS.triggers("wf-1"), stream_job), (KEYS.delivery_jobs, http_job)):
        entries = [f for _, f in await xrange_all(redis, stream)]
        assert len(entries) == 3  # two events routed, one replayed
        replayed = entries[-1]
        assert {k: v for k, v in replayed.items() if k not in marks} == {
            k: v for k, v in original.items() if k != b"job_id"
        }
        assert replayed[b"job_id"] == original[b"job_id"] + b":replay:again"
        assert replayed[b"replay_of"].decode() == event_id and replayed[b"replay_of_job"] == original[b"job_id"]
        assert replayed[b"replay"] == b"again"


async def test_redeliver_skips_events_without_jobs(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_without_credential(seed)
    await post_events(settings, 2)
    [routed] = await post_events(settings, 1, first=5)
    await route_all(redis, registry)
    await redis.hdel(KEYS.outcomes, routed)  # as if not routed yet
    job = await replay(redis, registry, ReplayRequest("rd", mode="redeliver", filter=EventFilter()))
    assert (job.counts.matched, job.counts.replayed, job.counts.skipped) == (3, 0, 3)
    assert job.counts.reasons == {"no_jobs": 2, "not_routed": 1}


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def key_state(redis: Redis) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for key in await redis.keys("*"):
        kind = _s(await redis.type(key))
        size = {"stream": redis.xlen, "hash": redis.hlen, "zset": redis.zcard, "list": redis.llen}.get(kind)
        state[_s(key)] = (kind, await size(key) if size else None)
    return state


@pytest.mark.parametrize("mode", ["reroute", "redeliver"])
async def test_a_dry_run_writes_nothing_but_its_job_record(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry, mode: str
) -> None:
    await seed_two_targets(seed)
    await post_events(settings, 3)
    await route_all(redis, registry)
    before = await key_state(redis)
    job = await replay(redis, registry, ReplayRequest("dry", mode=mode, dry_run=True, filter=EventFilter()))
    assert (job.counts.matched, job.counts.replayed, job.counts.jobs) == (3, 3, 6 if mode == "redeliver" else 0)
    after = await key_state(redis)
    assert {k: v for k, v in after.items() if k != KEYS.replay_job("dry")} == before
    assert job.to_json()["dry_run"] is True


async def test_the_same_request_id_replays_once_and_other_parameters_conflict(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    [event_id] = await post_events(settings, 1)
    body = {"request_id": "once", "event_id": event_id, "mode": "reroute"}
    async with running(settings) as http:
        first = await http.post("/api/replays", json=body, headers=AUTH)
        second = await http.post("/api/replays", json=body, headers=AUTH)
        assert (first.status_code, second.status_code) == (202, 200)
        assert first.json()["status"] == "pending" and second.json()["id"] == "once"
        runner = ReplayRunner(replayer(redis, registry), ReplayJobs(redis, KEYS), owner="w1")
        assert await runner.run_once() is True
        assert await runner.run_once() is False  # done jobs leave the queue
        third = await http.post("/api/replays", json=body, headers=AUTH)
        conflict = await http.post("/api/replays", json={**body, "mode": "redeliver"}, headers=AUTH)
        status = await http.get("/api/replays/once", headers=AUTH)
    assert third.status_code == 200 and third.json()["status"] == "done"
    assert conflict.status_code == 409
    assert status.json()["counts"] == {"matched": 1, "replayed": 1, "skipped": 0, "failed": 0}
    assert status.json()["progress"] == 1.0
    assert await redis.xlen(KEYS.ingest) == 2  # the event and ONE copy
    with pytest.raises(ReplayConflict):
        await ReplayJobs(redis, KEYS).create(ReplayRequest("once", mode="redeliver", event_id=event_id))


async def test_replay_one_event_through_the_api(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_slack(seed)
    [event_id] = await post_events(settings, 1)
    async with running(settings) as http:
        made = await http.post(f"/api/events/{event_id}/replay", json={"mode": "redeliver"}, headers=AUTH)
        plain = await http.post(f"/api/events/{event_id}/replay", headers=AUTH)
        missing = await http.post("/api/events/1-0/replay", headers=AUTH)
        bad_mode = await http.post(f"/api/events/{event_id}/replay", json={"mode": "x"}, headers=AUTH)
        unknown = await http.get("/api/replays/nope", headers=AUTH)
        bad = await http.post("/api/replays", json={"request_id": "x", "integration": 5}, headers=AUTH)
        neither = await http.post(
            "/api/replays", json={"request_id": "x", "event_id": event_id, "dry_run": "y"}, headers=AUTH
        )
        filtered = await http.post(
            "/api/replays",
            json={"request_id": "f1", "integration": "slack-app", "afterDate": "2020-01-01", "dry_run": True},
            headers=AUTH,
        )
        noauth = await http.post("/api/replays", json={"request_id": "x"})
    assert made.status_code == 202 and made.json()["id"] == f"event:{event_id}:redeliver"
    assert plain.status_code == 202 and plain.json()["mode"] == "reroute"
    assert missing.status_code == 404 and unknown.status_code == 404
    # A body that does not fit the documented model is a 422 naming the member at fault.
    assert bad_mode.status_code == bad.status_code == neither.status_code == 422
    assert [e["field"] for e in bad_mode.json()["errors"]] == ["mode"]
    assert [e["field"] for e in bad.json()["errors"]] == ["integration"]
    assert [e["field"] for e in neither.json()["errors"]] == ["dry_run"]
    assert filtered.status_code == 202
    assert filtered.json()["filter"] == {"integration": "slack-app", "after_ms": 1577836800000}
    assert noauth.status_code == 401
    assert await redis.zcard(KEYS.replay_pending) == 3


async def test_the_rate_bounds_a_replay(settings: Settings, seed: Seed, redis: Redis, registry: Registry) -> None:
    await seed_slack(seed)
    await post_events(settings, 40)
    await route_all(redis, registry)  # the index lists events as they are routed
    started = time.monotonic()
    job = await replay(redis, registry, ReplayRequest("slow", filter=EventFilter()), ReplayConfig(rate_per_s=100))
    elapsed = time.monotonic() - started
    assert job.counts.replayed == 40
    assert elapsed >= 40 / 100 * 0.8, elapsed


async def test_a_replay_pauses_while_the_live_backlog_is_high(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    [first, *_] = await post_events(settings, 5)
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="live")
    await store.ensure_group(KEYS.ingest)  # five events nobody routed yet: the live backlog
    config = ReplayConfig(rate_per_s=None, backlog_max=2, pause_s=0.02)
    await ReplayJobs(redis, KEYS).create(ReplayRequest("patient", event_id=first), queue=False)
    task = asyncio.create_task(replayer(redis, registry, config).run("patient"))

    async def waiting() -> bool:
        job = await ReplayJobs(redis, KEYS).get("patient")
        return job is not None and job.waiting_backlog > 0

    await eventually(waiting, what="the replay to report the live backlog it waits for")
    paused = await ReplayJobs(redis, KEYS).get("patient")
    assert paused is not None and paused.counts.replayed == 0 and paused.waiting_backlog == 5
    assert paused.to_json()["status"] == "running"
    await route_all(redis, registry)  # live traffic drains
    job = await asyncio.wait_for(task, 5)
    assert job is not None and job.status == "done" and job.counts.replayed == 1 and job.waiting_backlog == 0


async def test_one_worker_runs_a_job_and_a_stopped_job_resumes_from_its_cursor(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    await post_events(settings, 30)
    await route_all(redis, registry)
    jobs_ = ReplayJobs(redis, KEYS)
    await jobs_.create(ReplayRequest("big", filter=EventFilter()))
    assert await jobs_.claim("big", "someone-else", 30)
    busy = ReplayRunner(replayer(redis, registry), jobs_, owner="w1")
    assert await busy.run_once() is False  # held by another worker
    await jobs_.release("big", finished=False)
    stopping = asyncio.Event()
    seen: list[int] = []

    def progress(job: ReplayJob) -> None:
        seen.append(job.counts.matched)
        if job.counts.matched >= 10:
            stopping.set()

    slow = ReplayConfig(rate_per_s=100, backlog_max=None)  # batches of 10
    stopped = await replayer(redis, registry, slow).run("big", progress=progress, stopping=stopping)
    assert stopped is not None and stopped.status == "running" and stopped.counts.matched == 10
    assert await jobs_.pending() == ["big"]
    assert await ReplayRunner(replayer(redis, registry), jobs_, owner="w2").run_once() is True
    done = await jobs_.get("big")
    assert done is not None and done.status == "done" and done.counts.replayed == 30
    copies = [f[b"replay_of"] for _, f in await xrange_all(redis, KEYS.ingest) if b"replay_of" in f]
    assert len(copies) == len(set(copies)) == 30  # nothing replayed twice across the stop


async def test_a_job_that_fails_for_good_is_marked_failed(seed: Seed, redis: Redis, registry: Registry) -> None:
    jobs_ = ReplayJobs(redis, KEYS)
    await jobs_.create(ReplayRequest("broken", filter=EventFilter()))
    rep = replayer(redis, registry)

    async def boom(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("bad data")

    rep._index.query = boom  # type: ignore[method-assign]
    runner = ReplayRunner(rep, jobs_, owner="w1")
    supervisor = Supervisor(backoff_base_s=0.01)
    supervisor.add(Task("replay", runner.run_once, pause_s=0.01, stop=runner.stop))
    supervisor.start()
    for _ in range(100):
        job = await jobs_.get("broken")
        # Both: the job is marked failed before its error reaches the supervisor, which counts the restart.
        [health] = supervisor.health()
        if job is not None and job.status == "failed" and health.restarts >= 1:
            break
        await asyncio.sleep(0.01)
    await asyncio.wait_for(supervisor.stop(), 5)
    assert health.restarts >= 1 and health.last_error == "ValueError"  # the runner outlived the job's failure
    assert job is not None and job.status == "failed" and job.error == "ValueError"
    assert await jobs_.pending() == []


def test_request_validation() -> None:
    with pytest.raises(ValueError, match="request_id"):
        ReplayRequest("", event_id="1-0")
    with pytest.raises(ValueError, match="mode"):
        ReplayRequest("a", mode="x", event_id="1-0")
    with pytest.raises(ValueError, match="exactly one"):
        ReplayRequest("a")
    req = ReplayRequest("a", filter=EventFilter(status="failed", after_ms=5))
    assert ReplayRequest.from_params("a", req.params()) == req
    assert json.loads(req.params())["filter"] == {"status": "failed", "after_ms": 5}


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2h", (1_000_000 - 7200) * 1000),
        ("3d", (1_000_000 - 3 * 86_400) * 1000),
        ("30m", (1_000_000 - 1800) * 1000),
        ("2024-05-01", 1_714_521_600_000),
        ("2024-05-01T12:00:00Z", 1_714_564_800_000),
        ("2024-05-01T14:00:00+02:00", 1_714_564_800_000),
    ],
)
def test_parse_when(text: str, ms: int) -> None:
    assert parse_when(text, now_s=1_000_000) == ms


def test_parse_when_rejects_other_forms() -> None:
    with pytest.raises(ValueError, match="ISO date"):
        parse_when("yesterday")


async def test_backlog_counts_lag_and_pending(redis: Redis) -> None:
    store = EventStore(redis, maxlen=1000, group=ROUTING_GROUP, consumer="c")
    assert await store.backlog(KEYS.ingest, ROUTING_GROUP) == 0  # no stream
    for n in range(4):
        await store.append(KEYS.ingest, {"n": n})
    assert await store.backlog(KEYS.ingest, ROUTING_GROUP) == 0  # no group: nobody to starve
    await store.ensure_group(KEYS.ingest)
    await store.read_new(KEYS.ingest, count=1, block_ms=0)
    assert await store.backlog(KEYS.ingest, ROUTING_GROUP) == 4  # 3 unread + 1 pending


async def test_the_schema_describes_every_replay_route_and_real_answers_fit_it(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed_slack(seed)
    [event_id] = await post_events(settings, 1)
    await route_all(redis, registry)
    one = {"request_id": "one", "event_id": event_id}
    selection = {"request_id": "sel", "integration": "slack-app", "afterDate": "2020-01-01", "before_ms": 2**53}
    async with running(settings) as http:
        schema = (await http.get("/api/openapi.json")).json()
        answers = [
            await http.post("/api/replays", json=one, headers=AUTH),
            await http.post("/api/replays", json=one, headers=AUTH),
            await http.post("/api/replays", json={**one, "mode": "redeliver"}, headers=AUTH),
            await http.post("/api/replays", json=selection, headers=AUTH),
            await http.post(f"/api/events/{event_id}/replay", json={"dry_run": True}, headers=AUTH),
            await http.post("/api/events/1-0/replay", headers=AUTH),
            await http.post("/api/replays", json={"request_id": "-bad"}, headers=AUTH),
        ]
        runner = ReplayRunner(replayer(redis, registry), ReplayJobs(redis, KEYS), owner="w1")
        while await runner.run_once():
            pass
        answers += [await http.get(f"/api/replays/{name}", headers=AUTH) for name in ("one", "sel", "nope")]
    assert [a.status_code for a in answers] == [202, 200, 409, 202, 202, 404, 422, 200, 200, 404]
    for answer in answers:
        fits(replay_routes.router, answer)
    assert answers[4].json()["id"] == f"event:{event_id}:dry:reroute"
    assert [e["field"] for e in answers[6].json()["errors"]] == ["request_id"]
    done = answers[8].json()
    assert done["status"] == "done" and done["filter"] == {
        "integration": "slack-app",
        "after_ms": 1577836800000,
        "before_ms": 2**53,
    }

    assert body_schemas(schema, "POST", "/replays") == {"ReplayBody"}
    fields = component(schema, "ReplayBody")["properties"]
    assert {"request_id", "event_id", "mode", "dry_run", "after_ms", "afterDate", "integration"} <= set(fields)
    assert fields["mode"]["enum"] == list(MODES) and fields["request_id"]["pattern"]
    assert component(schema, "ReplayBody")["required"] == ["request_id"]
    assert body_schemas(schema, "POST", "/events/{event_id}/replay") == {"EventReplayBody"}
    assert not operation(schema, "POST", "/events/{event_id}/replay")["requestBody"].get("required")
    assert set(parameters(schema, "POST", "/events/{event_id}/replay")) == {"event_id"}
    assert set(parameters(schema, "GET", "/replays/{request_id}")) == {"request_id"}
    assert parameters(schema, "POST", "/replays") == {}
    for path in ("/replays", "/events/{event_id}/replay"):
        assert {"200", "202", "404", "409", "422"} <= set(operation(schema, "POST", path)["responses"])
