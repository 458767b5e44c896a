"""Replay stored events: one, or every event a filter matches, as a throttled job with counts.

Two modes:

- ``reroute``: a copy of each event goes back on the ingest stream, every field and the body bytes unchanged,
  plus ``replay_of`` (the event replayed) and ``replay`` (the request id); the routing worker then routes it
  against today's registry (a credential connected since, a workflow activated since). The copy is a plain
  XADD: delivery-id deduplication lives only in the receiver's check-and-append, so it cannot swallow it. With one
  shard, a batch's copies are made inside Redis from their ids (``EventStore.copy_for_replay``); with several, each
  event is read here and its copy written to its tenant's shard.
- ``redeliver``: the trigger jobs the event's routing outcome lists are created again for the same workflows
  and credentials, marked ``replay_of`` / ``replay_of_job`` / ``replay``. Their job id is the original's plus
  ``:replay:<request id>`` (percent-encoded): runners and HTTP targets deduplicate on job ids, so a replay needs
  its own, and one request replayed twice (a worker died) still yields the same ids.

A request is a job record (hash ``Keys.replay_job``) keyed by the client's request id: the same id again
returns that job and replays nothing more; the same id with other parameters is a conflict. Workers run queued
jobs (``ReplayRunner``; one worker per job through a SET NX claim); the CLI runs its own in-process. A job
resumes from its cursor (the last event id done) when a worker died or stopped part-way.

Throttling, so a replay never starves live traffic: at most ``rate_per_s`` events per second, and a pause
whenever the live backlog (routing group lag plus pending; for redeliver also the delivery group's) is above
``backlog_max``. Reroute copies count in that backlog, so a reroute never runs ahead of routing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from redis.exceptions import RedisError

from router.history.indexes import EventFilter, EventIndex, score
from router.history.replay_jobs import FINISHED, Counts, ReplayJob, ReplayJobs, ReplayRequest
from router.routing.core import job as trigger_job
from router.routing.outcomes import RoutingOutcomes
from router.storage.entries import IngestEvent, MalformedEntry
from router.storage.keys import DELIVERY_GROUP, ROUTING_GROUP, Keys, replay_job_id
from router.storage.store import Append, EventStore, StoredEvent
from router.storage.stream_id import InvalidStreamId
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)

Progress = Callable[[ReplayJob], None]


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    rate_per_s: float | None = 200.0  # None: as fast as Redis takes it (the bench)
    backlog_max: int | None = 1000  # None: never pause for live traffic
    batch: int = 500
    # How often a paused replay looks at the backlog again. Routing clears a 1,000 backlog in well under 0.5 s:
    # looking every 0.5 s left it idle most of each pause (rerouting ran at a third of the rate; bench/replay.py).
    pause_s: float = 0.05
    claim_ttl_s: int = 30


class Throttle:
    """``rate_per_s`` on average, paced after each batch; a pause while the live backlog is above the bound."""

    def __init__(self, config: ReplayConfig, backlog: Callable[[], Awaitable[int]]) -> None:
        self._config = config
        self._backlog = backlog
        self._start = time.monotonic()
        self._sent = 0
        rate = config.rate_per_s
        # Batches of about a tenth of a second's worth, so pacing is smooth even for small replays.
        self.batch = config.batch if rate is None else max(1, min(config.batch, int(rate / 10)))

    async def admit(self, waiting: Callable[[int], Awaitable[None]]) -> None:
        """Return once the live backlog is at or below the bound; ``waiting(n)`` is told while it is not."""
        if self._config.backlog_max is None:
            return
        paused = False
        while (n := await self._backlog()) > self._config.backlog_max:
            paused = True
            await waiting(n)
            await asyncio.sleep(self._config.pause_s)
        if paused:
            await waiting(0)
            # No catch-up burst after a pause: the rate applies from now on.
            if self._config.rate_per_s is not None:
                self._start = time.monotonic() - self._sent / self._config.rate_per_s

    async def pace(self, sent: int) -> None:
        self._sent += sent
        if self._config.rate_per_s is not None:
            due = self._start + self._sent / self._config.rate_per_s
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)


class Replayer:
    """Runs replay jobs: selects events, writes copies or jobs batch by batch, records counts and cursor."""

    def __init__(
        self,
        store: EventStore,
        keys: Keys,
        jobs: ReplayJobs,
        cache: SnapshotCache,
        config: ReplayConfig,
        *,
        index: EventIndex | None = None,
    ) -> None:
        self._store = store
        self._keys = keys
        self._jobs = jobs
        self._cache = cache
        self._config = config
        self._index = index or EventIndex.of(store, keys)
        # With one shard and none draining, every event's copy goes to the stream it is in: made inside Redis.
        # Otherwise a copy goes to its tenant's shard under today's N, which only the decoded entry tells.
        self._in_place = keys.shards == 1 and not keys.draining

    async def run(
        self,
        request_id: str,
        *,
        owner: str = "",
        progress: Progress | None = None,
        stopping: asyncio.Event | None = None,
    ) -> ReplayJob | None:
        """Run the job to its end; None when another worker holds it. Stopped early, it stays pending."""
        owner = owner or uuid.uuid4().hex
        if not await self._jobs.claim(request_id, owner, self._config.claim_ttl_s):
            return None
        finished = False
        try:
            job = await self._jobs.get(request_id)
            if job is None or job.status in FINISHED:
                finished = True
                return job
            finished = await self._run(job, owner, progress, stopping or asyncio.Event())
            return await self._jobs.get(request_id)
        except Exception as exc:
            if not _transient(exc):
                # A bug or bad data, not an outage: retrying would fail again. Record it and give up.
                logger.exception("replay failed", extra={"request_id": request_id})
                await self._jobs.update(request_id, {"status": "failed", "error": type(exc).__name__})
                finished = True
            raise
        finally:
            await self._jobs.release(request_id, finished=finished)

    async def _run(self, job: ReplayJob, owner: str, progress: Progress | None, stopping: asyncio.Event) -> bool:
        rid = job.request.request_id
        total = job.total
        if total is None:
            total = 1 if job.request.event_id else (await self._index.query(_filter(job), limit=1)).total
        started = job.started_at_ms or _now_ms()
        await self._jobs.update(rid, {"status": "running", "started_at": str(started), "total": str(total)})
        counts, cursor = job.counts, job.cursor
        throttle = Throttle(self._config, self._backlog_of(job.request.mode))

        async def waiting(n: int) -> None:
            await self._jobs.update(rid, {"waiting_backlog": str(n)})
            await self._jobs.renew(rid, owner, self._config.claim_ttl_s)
            if progress is not None:  # paused, not stuck: the caller hears from the job all the same
                progress(dataclasses.replace(job, status="running", counts=counts, total=total, cursor=cursor))

        # A resumed job skips what it did before its cursor. The index hands ids over in cursor order, so once one
        # lies past it, so does everything after: only the first batches are looked through.
        resume = _id_key(cursor) if cursor and job.request.event_id is None else None
        async for ids in self._ids(job, throttle.batch):
            if resume is not None:
                ids = [i for i in ids if _id_key(i) > resume]
                if ids:
                    resume = None
            if not ids:
                continue
            if stopping.is_set() or not await self._jobs.renew(rid, owner, self._config.claim_ttl_s):
                return False  # stopped, or the claim was lost: the cursor says where to carry on
            if not job.request.dry_run:
                await throttle.admit(waiting)
            sent = await self._batch(job.request, ids, counts)
            cursor = ids[-1]
            if progress is not None:
                progress(dataclasses.replace(job, status="running", counts=counts, total=total, cursor=cursor))
            if not job.request.dry_run:
                await throttle.pace(sent)
        await self._jobs.update(rid, {"status": "done", "finished_at": str(_now_ms()), **counts.to_hash()})
        return True

    async def _ids(self, job: ReplayJob, batch: int) -> AsyncIterator[list[str]]:
        if job.request.event_id is not None:
            yield [job.request.event_id]
            return
        async for ids in self._index.iter_ids(_filter(job), batch=batch):
            # Cut the index's batches to the throttle's size: progress and pacing then move in small steps.
            for start in range(0, len(ids), batch):
                yield ids[start : start + batch]

    async def _batch(self, request: ReplayRequest, ids: list[str], counts: Counts) -> int:
        """Replay one batch; returns how many events were replayed (or would be, in a dry run)."""
        before = counts.replayed
        counts.matched += len(ids)
        rest = ids
        if request.mode == "reroute" and not request.dry_run and self._in_place:
            rest = await self._copy_in_place(request, ids, counts)
        events = {e.id: e for e in await self._store.get_events(self._keys, rest)} if rest else {}
        if request.mode == "reroute":
            writes = self._reroute(request, rest, events, counts)
        else:
            writes = await self._redeliver(request, rest, events, counts)
        counts.replayed += len({str(w.fields["replay_of"]) for w in writes})
        state = {**counts.to_hash(), "cursor": ids[-1], "updated_at": str(_now_ms())}
        if request.dry_run:
            await self._jobs.update(request.request_id, state)
        else:
            # The copies or jobs and the job's counts and cursor in one round trip (after the script's, when the
            # copies were made inside Redis). Not atomic: a crash in between replays that batch again on resume
            # (at-least-once, like routing itself).
            await self._store.write(
                writes, state, self._keys.replay_job(request.request_id), stream_registry=self._keys.stream_registry
            )
        return counts.replayed - before

    async def _copy_in_place(self, request: ReplayRequest, ids: list[str], counts: Counts) -> list[str]:
        """Copy the batch's events of the one shard inside Redis (``EventStore.copy_for_replay``): only their ids
        travel. Returns the ids left for the copies made here: those naming another shard (stored before a change of
        N), or not in full form, or whose copy rewrites the entry's layout."""
        rest = []
        wanted = list(dict.fromkeys(ids))
        statuses = await self._store.copy_for_replay(
            self._keys.shard(0).ingest, wanted, request.request_id, skip_copies=request.filter is not None
        )
        for event_id, status in zip(wanted, statuses, strict=True):
            if status == "c":
                counts.replayed += 1
            elif status == "p":
                rest.append(event_id)
            elif status == "n":
                counts.skip("not_stored", failed=True)
            elif status == "r":
                counts.skip("is_a_replay")
            else:
                logger.warning("malformed ingest entry not replayed", extra={"event_id": event_id, "field": status[2:]})
                counts.skip("malformed_entry", failed=True)
        return rest

    def _selected(
        self, request: ReplayRequest, ids: list[str], events: dict[str, StoredEvent], counts: Counts
    ) -> list[IngestEvent]:
        out = []
        for event_id in ids:
            stored = events.get(event_id)
            if stored is None:
                counts.skip("not_stored", failed=True)
                continue
            try:
                event = IngestEvent.from_fields(stored.fields, stored.id)
            except MalformedEntry as exc:
                logger.warning("malformed ingest entry not replayed", extra={"event_id": stored.id, "field": exc.field})
                counts.skip("malformed_entry", failed=True)
                continue
            if request.filter is not None and event.replay_of:
                # A filter also matches earlier replays' copies: replaying those too would multiply events.
                counts.skip("is_a_replay")
            else:
                out.append(event)
        return out

    def _reroute(
        self, request: ReplayRequest, ids: list[str], events: dict[str, StoredEvent], counts: Counts
    ) -> list[Append]:
        writes = []
        for event in self._selected(request, ids, events, counts):
            stream = self._keys.of_event(*event.tenant).ingest
            writes.append(Append(stream, event.replayed_fields(event.id, request.request_id)))
        return writes

    async def _redeliver(
        self, request: ReplayRequest, ids: list[str], events: dict[str, StoredEvent], counts: Counts
    ) -> list[Append]:
        selected = self._selected(request, ids, events, counts)
        if not selected:
            return []
        outcomes = await RoutingOutcomes(self._store, self._keys).get_many([e.id for e in selected])
        snapshot = await self._cache.refresh()
        writes: list[Append] = []
        for event, raw in zip(selected, outcomes, strict=True):
            jobs = json.loads(raw).get("jobs", []) if raw else []
            if request.job_id is not None:
                jobs = [j for j in jobs if j.get("job_id") == request.job_id]
            if not jobs:
                counts.skip("not_routed" if raw is None else "no_jobs")
                continue
            keys = self._keys.of_id(event.id)  # a job's shard is its event's
            made = [w for j in jobs if (w := _again(snapshot, keys, event, j, request.request_id))]
            if not made:
                counts.skip("workflow_removed")
            writes += made
            counts.jobs += len(made)
        return writes

    def _backlog_of(self, mode: str) -> Callable[[], Awaitable[int]]:
        shards = self._keys.every_shard
        watched: list[list[tuple[str, str]]] = [[(k.ingest, ROUTING_GROUP) for k in shards]]
        if mode == "redeliver":
            watched.append([(k.delivery_jobs, DELIVERY_GROUP) for k in shards])

        async def backlog() -> int:
            # Each stage's backlog is the sum over its shards; the busier stage is what a replay waits on.
            return max([sum([await self._store.backlog(s, g) for s, g in stage]) for stage in watched])

        return backlog


def _again(snapshot: Snapshot, keys: Keys, event: IngestEvent, original: dict[str, str], rid: str) -> Append | None:
    """The original trigger job, re-created: same workflow, credential and user, its own id, marked."""
    workflow = snapshot.workflows.get(original.get("workflow", ""))
    if workflow is None:
        return None
    marks = {
        "job_id": replay_job_id(original["job_id"], rid),
        "credential": original.get("credential", ""),
        "replay_of": event.id,
        "replay_of_job": original["job_id"],
        "replay": rid,
    }
    append, _ = trigger_job(event, keys, workflow, None, original.get("user", ""), marks)
    return append


def _filter(job: ReplayJob) -> EventFilter:
    flt = job.request.filter or EventFilter()
    if flt.before_ms is None:
        # Events stored up to the request, not after: the copies a reroute appends (and the index lists as they
        # are routed) would otherwise join the selection while it runs.
        flt = dataclasses.replace(flt, before_ms=job.created_at_ms + 1)
    return flt


def _transient(exc: Exception) -> bool:
    return isinstance(exc, RedisError | OSError)


def _id_key(entry_id: str) -> tuple[int, str]:
    # The history indexes' order (``score``, then the id), which merges the shards: the cursor resumes in it.
    try:
        return score(entry_id), entry_id
    except InvalidStreamId:
        return 0, ""


class ReplayRunner:
    """The workers' task: run the first queued replay job nobody holds, one at a time per process."""

    def __init__(self, replayer: Replayer, jobs: ReplayJobs, *, owner: str) -> None:
        self._replayer = replayer
        self._jobs = jobs
        self._owner = owner
        self._stopping = asyncio.Event()
        # A replay may run for minutes: each batch tells the supervisor it is still making progress.
        self.heartbeat: Callable[[], None] = lambda: None

    def stop(self) -> None:
        """Stop after the batch in hand; the job stays pending and resumes from its cursor elsewhere."""
        self._stopping.set()

    async def run_once(self) -> bool:
        """Run the first queued job nobody holds; False when there was none."""
        for request_id in await self._jobs.pending():
            owner = f"{self._owner}:{uuid.uuid4().hex[:8]}"
            job = await self._replayer.run(
                request_id, owner=owner, stopping=self._stopping, progress=lambda _: self.heartbeat()
            )
            if job is not None:
                return True
        return False
