"""Every Redis key, stream and group name the router uses.

Keys a single command or pipeline touches together share a hash tag (``{...}``) so the layout
works unchanged on Redis Cluster.

Ids (integration, workflow, user, delivery) may hold ``:``, so a key or an id made of several of them
percent-encodes each (``part``): joined raw, integration ``a:b`` with delivery ``X-123`` and integration
``a`` with delivery ``b:X-123`` would name the same marker. The id builders at the end of this module
follow the same rule.

Shards (``HOOKROUTER_SHARDS``). The ingest stream and what is written with each event (dedup markers, routing
outcomes, traffic counts: ``{ingest}``), its history indexes (``{idx}``) and its HTTP delivery work (jobs stream,
retry schedule, job hashes and histories, ordered queues: ``{delivery}``) are split into N shards, so they spread
over a cluster's masters. An event's shard is a stable hash of (integration, provider ID) (``Keys.shard_of``), so
one tenant's events keep their order in one stream, and its jobs and index entries follow it there. Shard 0 keeps
the names of the unsharded layout (``{ingest}``, ...); shard ``i`` > 0 has the tags ``{ingest:i}``, ``{idx:i}`` and
``{delivery:i}``. So with N = 1 nothing is renamed, and after a change of N the events stored before stay readable
where they are. A ``Keys`` is a view of one shard (``shard``, 0 unless asked); ``every_shard`` lists the views
readers go through, the shards being drained after a change of N included (``draining``).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from typing import TYPE_CHECKING
from urllib.parse import quote

from redis.crc import REDIS_CLUSTER_HASH_SLOTS as SLOTS
from redis.crc import key_slot

from router.storage.stream_id import InvalidStreamId, StreamId

if TYPE_CHECKING:
    from router.settings import Settings

# Consumer groups, one per kind of reader: Redis keeps each name with its group's position and pending
# entries, so a renamed group would re-read its stream from the start.
ROUTING_GROUP = "routing"  # the routing worker, on the ingest stream
DELIVERY_GROUP = "delivery"  # the delivery worker, on the delivery-jobs stream
DESTINATIONS_GROUP = "destinations"  # the notification fan-out, on the notifications stream
NOTIFY_GROUP = "notify"  # the executions bridge, on the executions stream
RUNNER_GROUP = "runners"  # workflow runners, on each trigger stream
# `hookrouter forward`, on a trigger stream: an observer. It reads jobs from when it joined, and the acked-entry
# trim ignores it (it neither holds entries back nor lets a stream no runner reads yet lose its jobs).
OBSERVER_GROUP = "forward"

_LONG = 200  # parts longer than this are hashed: bounded keys, whatever a provider (or an attacker) sends


@functools.lru_cache(maxsize=16_384)  # the same workflow and user ids, job after job: encoded once
def part(value: str) -> str:
    """One part of a key or id: percent-encoded, so it holds no ``:`` (nor ``=``, nor ``/``) of its own."""
    return quote(value, safe="@")


def _bounded(value: str) -> str:
    # "sha256=" cannot come out of part(), which encodes "=": a hashed id never equals an encoded one.
    if len(value) > _LONG:
        return "sha256=" + hashlib.sha256(value.encode()).hexdigest()
    return part(value)


class ShardStream(str):
    """The name of a shard's ingest stream, knowing its shard: the store turns the entry ids it reads there into
    event ids (``<ms>-<seq>-<shard>``) and back, so no caller handles the two forms."""

    shard: int

    def __new__(cls, name: str, shard: int) -> ShardStream:
        stream = super().__new__(cls, name)
        stream.shard = shard
        return stream


MAX_SHARDS = 1024


@functools.cache
def shard_tag(family: str, index: int) -> str:
    """The hash tag of shard ``index`` of a family: ``family`` for shard 0 (the unsharded name), else
    ``family:<index>``, with a ``.<n>`` suffix when that puts the shard in the slot window it is meant for.

    A cluster's masters serve contiguous ranges of slots, and a handful of tags hashed at random would pile onto
    one master (16 shards over 3 masters came out 9/3/4). So shard ``index`` is placed at the van der Corput
    point of ``index`` around the slot ring, from shard 0's slot: for any N the first N shards sit evenly spaced,
    every master's range holds its share of them, and a shard's tag never depends on N (a change of N renames
    nothing). The suffix is the first that lands in a window of an eighth of the spacing at the shard's depth.
    """
    if index == 0:
        return family
    depth = index.bit_length()
    point = int(f"{index:0{depth}b}"[::-1], 2) * SLOTS >> depth  # bit-reversed: the van der Corput sequence
    target = (key_slot(family.encode()) + point) % SLOTS
    width = max(SLOTS >> (depth + 3), 16)
    for n in itertools.count():
        tag = f"{family}:{index}" if n == 0 else f"{family}:{index}.{n}"
        if (key_slot(tag.encode()) - target) % SLOTS < width:
            return tag
    raise AssertionError("unreachable")  # pragma: no cover - count() never ends


def _tenant_shard(shards: int, integration_id: str, provider_id: str) -> int:
    if shards == 1:
        return 0
    # BLAKE2b, not CRC-32: CRC is linear, and tenants whose ids differ in one character (T1, T2, ...) would
    # share the low bits a small N keeps.
    tenant = f"{part(integration_id)}:{part(provider_id)}".encode()
    return int.from_bytes(hashlib.blake2b(tenant, digest_size=8).digest(), "big") % shards


class Keys:
    def __init__(self, prefix: str = "hr", *, shards: int = 1, draining: int = 0, shard: int = 0) -> None:
        if not 1 <= shards <= MAX_SHARDS or not 0 <= draining <= MAX_SHARDS:
            raise ValueError(f"shards must be 1..{MAX_SHARDS}")
        self.prefix = prefix
        self.shards = shards  # where new events go
        self.draining = draining  # the shard count before a change, while its shards are drained (0: none)
        self.index = shard  # the shard this view names
        self._views: dict[int, Keys] = {shard: self}  # shared by every view of these keys: each built once

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        """The keys of a process: its prefix and shards."""
        return cls(settings.prefix, shards=settings.shards, draining=settings.shards_draining)

    # -- shards

    def shard(self, index: int) -> Keys:
        """The view of shard ``index``."""
        view = self._views.get(index)
        if view is None:
            view = Keys(self.prefix, shards=self.shards, draining=self.draining, shard=index)
            view._views = self._views
            self._views[index] = view
        return view

    @property
    def every_shard(self) -> list[Keys]:
        """Every shard readers go through: the current ones and those being drained."""
        return [self.shard(i) for i in range(max(self.shards, self.draining))]

    def shard_of(self, integration_id: str, provider_id: str = "") -> int:
        """The shard of a tenant: a stable hash of (integration, provider ID), or of the integration alone for
        events without a provider ID; the parts encoded as in a key, so no ``:`` in one moves it into the other."""
        return _tenant_shard(self.shards, integration_id, provider_id)

    def before_change(self, integration_id: str, provider_id: str = "") -> Keys | None:
        """While the shards of a previous N are drained: the view of the shard this tenant's events went to under
        that N, when it is not the one they go to now (a provider's retry of an event stored before the change
        finds its dedup marker there); None otherwise."""
        if not self.draining:
            return None
        before = _tenant_shard(self.draining, integration_id, provider_id)
        return None if before == self.shard_of(integration_id, provider_id) else self.shard(before)

    def of_event(self, integration_id: str, provider_id: str = "") -> Keys:
        """The view of the shard a new event of this tenant is stored in."""
        return self.shard(self.shard_of(integration_id, provider_id))

    def of_id(self, event_or_job_id: str) -> Keys:
        """The view of the shard an event id (or a job id, which starts with its event's) names; shard 0 for
        anything else (a notification's id, a malformed one)."""
        try:
            return self.shard(StreamId.of_job(event_or_job_id).shard)
        except InvalidStreamId:
            return self.shard(0)

    def _tag(self, family: str) -> str:
        return f"{{{shard_tag(family, self.index)}}}"

    # -- ingest: one stream per shard, and what its append and its routing write with it

    @property
    def ingest(self) -> ShardStream:
        """Every accepted webhook, raw body and all (this shard's)."""
        return ShardStream(f"{self.prefix}:{self._tag('ingest')}:events", self.index)

    def is_ingest(self, stream: str) -> bool:
        """Whether ``stream`` is the ingest stream of a shard, any shard: also one no longer read after N shrank."""
        return stream.startswith(f"{self.prefix}:{{ingest") and stream.endswith("}:events")

    @property
    def ingest_dead(self) -> str:
        """Ingest entries that failed routing ``max_deliveries`` times."""
        return f"{self.prefix}:{self._tag('ingest')}:dead"

    @property
    def outcomes(self) -> str:
        """Routing outcome of every ingest entry, keyed by its event id (matched N / no credential / ...)."""
        return f"{self.prefix}:{self._tag('ingest')}:outcomes"

    def seen(self, project: str, integration_id: str, delivery_id: str) -> str:
        """Marker of a provider delivery id already stored; shares the ingest hash tag (checked in one script).
        Same provider delivery, same tenant, same shard: build it on the event's shard view."""
        tag = self._tag("ingest")
        return f"{self.prefix}:{tag}:dedup:{part(project)}:{part(integration_id)}:{_bounded(delivery_id)}"

    def seen_before(self, integration_id: str, delivery_id: str) -> str | None:
        """The marker as versions before ``seen`` wrote it (raw parts), while their window runs; None where that
        form is ambiguous (a ``:`` in either part, or a hashed long id), so it can never match another pair, and
        on shards past 0 (those versions had none)."""
        if ":" in integration_id or ":" in delivery_id or len(delivery_id) > _LONG or self.index:
            return None
        return f"{self.prefix}:{{ingest}}:seen:{integration_id}:{delivery_id}"

    @property
    def duplicates(self) -> str:
        """Hash: integration id → repeat deliveries answered without storing (this shard's; summed to read)."""
        return f"{self.prefix}:{self._tag('ingest')}:duplicates"

    def stats(self, minute: int | str) -> str:
        """Hash of one minute's counts (``router/history/stats.py``): ``stored``, ``duplicate``, ``routed`` and
        ``failed_verification``, each also per project (``stored|<project>``). Shares the ingest hash tag: the
        count is written by the script that appends the event, and the outcome's with the outcome. ``stats("")``
        is the prefix those scripts add the minute (epoch minutes) to."""
        return f"{self.prefix}:{self._tag('ingest')}:stats:{minute}"

    def triggers(self, workflow_id: str) -> str:
        """Trigger jobs of one workflow, read by its runner."""
        return f"{self.prefix}:{{wf:{workflow_id}}}:triggers"

    @property
    def stream_registry(self) -> str:
        """Set of every stream trigger jobs were written to, so trimming reaches them all (those of workflows
        removed since included) without a SCAN."""
        return f"{self.prefix}:{{wf}}:streams"

    def verification_failures(self, integration_id: str) -> str:
        """Capped list of recent verification failure diagnostics of one integration."""
        return f"{self.prefix}:{{diag}}:{integration_id}:failures"

    def handshake_captures(self, integration_id: str) -> str:
        """Capped list of values providers sent in handshakes (encrypted), for the operator, oldest first."""
        return f"{self.prefix}:{{diag}}:{integration_id}:captures"

    def handshake_capture_counts(self, integration_id: str) -> str:
        """Hash beside ``handshake_captures``: captures kept per source address, and how many were dropped."""
        return f"{self.prefix}:{{diag}}:{integration_id}:capture-counts"

    @property
    def executions(self) -> str:
        """Execution reports of workflow runners (success / workflow_failure), for event destinations."""
        return f"{self.prefix}:{{executions}}:events"

    def response(self, execution_id: str) -> str:
        """Hash holding a Request-triggered workflow's response until its caller picks it up (with a TTL)."""
        # Its own hash tag: single-key commands only, so responses spread over the cluster's slots.
        return f"{self.prefix}:{{resp:{execution_id}}}"

    def run_report(self, execution_id: str) -> str:
        """String (JSON, with a TTL: retention): what a workflow runner reported of one execution: its end, task
        count and step executions (``router/history/runs.py``)."""
        # Its own hash tag, as responses: single-key commands only, spread over the cluster's slots.
        return f"{self.prefix}:{{run:{_bounded(execution_id)}}}"

    @property
    def responses_channel(self) -> str:
        """Pub/sub channel announcing (by execution id) that a response hash was written."""
        return f"{self.prefix}:{{responses}}:ready"

    # Per-target delivery limits (router/delivery/limits.py). One hash tag per target, so a single script can
    # check the breaker, the rate and the concurrency leases of that target atomically, cluster or not.

    @staticmethod
    def destination_target(destination_id: str) -> str:
        """The target id of a destination's limits; workflow ids (the other targets) cannot hold ``=``."""
        return f"dest={part(destination_id)}"

    def target_rate(self, target_id: str) -> str:
        """String: the target's GCRA theoretical arrival time, in microseconds since the epoch."""
        return f"{self.prefix}:{{tgt:{target_id}}}:rate"

    def target_leases(self, target_id: str) -> str:
        """Sorted set of in-flight delivery leases of the target: member = token, score = deadline (µs)."""
        return f"{self.prefix}:{{tgt:{target_id}}}:leases"

    def target_breaker(self, target_id: str) -> str:
        """Hash: the target's circuit breaker (state, consecutive failures, opened_at in µs)."""
        return f"{self.prefix}:{{tgt:{target_id}}}:breaker"

    def target_probe(self, target_id: str) -> str:
        """Marker (SET NX with a TTL) held by the one caller sending the half-open probe."""
        return f"{self.prefix}:{{tgt:{target_id}}}:probe"

    # -- delivery to HTTP targets: everything of a shard under one hash tag, so a job's reschedule, dead-lettering
    # and ack are one MULTI, and due retries move back to the work stream in one script. A job's shard is its
    # event's (a job id starts with the event id); failure events' destination jobs are shard 0's.

    @property
    def delivery_jobs(self) -> str:
        """Work stream of HTTP deliveries (new jobs and retries that came due)."""
        return f"{self.prefix}:{self._tag('delivery')}:jobs"

    @property
    def delivery_dead(self) -> ShardStream:
        """Dead letters: jobs whose attempts ran out or that a target refused for good, with their history. Its
        entry ids are qualified with the shard as event ids are, so one id names one dead letter in every shard."""
        return ShardStream(f"{self.prefix}:{self._tag('delivery')}:dead", self.index)

    @property
    def delivery_scheduled(self) -> str:
        """Sorted set of job ids waiting for a retry, scored by due time (unix s)."""
        return f"{self.prefix}:{self._tag('delivery')}:scheduled"

    def delivery_job(self, job_id: str) -> str:
        """Hash holding a rescheduled job's fields (body, attempts so far) until the job ends: its one copy."""
        return f"{self.prefix}:{self._tag('delivery')}:job:{job_id}"

    def delivery_history(self, job_id: str) -> str:
        """Hash: a finished job's status and attempt history (kept for the retention period)."""
        return f"{self.prefix}:{self._tag('delivery')}:history:{job_id}"

    def delivery_order(self, workflow_id: str, credential_id: str) -> str:
        """Sorted set of an ordered (workflow, credential) pair's pending job ids, by arrival."""
        return f"{self.prefix}:{self._tag('delivery')}:order:{part(workflow_id)}:{part(credential_id)}"

    @property
    def disabled_targets(self) -> str:
        """Hash: workflow id of a target disabled by a 410 Gone → when and why."""
        return f"{self.prefix}:{{delivery}}:disabled"

    # -- failure events for event destinations

    @property
    def notifications(self) -> str:
        """Every failure event, written here first: durable, listable, replayable."""
        return f"{self.prefix}:{{notify}}:events"

    @property
    def destination_failures(self) -> str:
        """Hash: destination id → consecutive non-2xx deliveries (reset by a success)."""
        return f"{self.prefix}:{{notify}}:failures"

    @property
    def disabled_destinations(self) -> str:
        """Hash: destination id → when and why it was disabled automatically."""
        return f"{self.prefix}:{{notify}}:disabled"

    def verification_burst(self, integration_id: str, window: int) -> str:
        """Hash of failed verifications of one integration in one minute: ``count`` and one count per reason."""
        return f"{self.prefix}:{{notify}}:burst:{integration_id}:{window}"

    @property
    def credential_states(self) -> str:
        """Hash: ``s|<credential>`` → ``STATUS:version`` last seen, ``r|<credential>`` → reason of its next failure."""
        return f"{self.prefix}:{{notify}}:credentials"

    # -- replay jobs (router/history/replay.py): one hash tag, so a job's record and the pending set change in
    # one script

    def replay_job(self, request_id: str) -> str:
        """Hash: one replay request (its parameters, status, counts and resume cursor), keyed by the client's id."""
        return f"{self.prefix}:{{replay}}:job:{request_id}"

    @property
    def replay_pending(self) -> str:
        """Sorted set of replay request ids waiting for a worker, scored by creation time (ms)."""
        return f"{self.prefix}:{{replay}}:pending"

    def replay_claim(self, request_id: str) -> str:
        """Marker (SET NX with a TTL, renewed while it runs) held by the one worker running a replay."""
        return f"{self.prefix}:{{replay}}:claim:{request_id}"

    # -- polled triggers (router/polling/): each pair's state and lease under a hash tag of their own, so pairs spread
    # over a cluster's slots; the schedule of all pairs is one sorted set (one ZRANGEBYSCORE finds the due ones).

    @property
    def poll_due(self) -> str:
        """Sorted set: every polled (credential, spec) pair → when it is next due (unix s)."""
        return f"{self.prefix}:{{poll}}:due"

    def poll_state(self, member: str) -> str:
        """Hash: one pair's cursor, page token, failures and last poll."""
        return f"{self.prefix}:{{poll:{_bounded(member)}}}:state"

    def poll_lease(self, member: str) -> str:
        """Marker (SET NX with a TTL) held by the one worker polling a pair."""
        return f"{self.prefix}:{{poll:{_bounded(member)}}}:lease"

    def poll_seen(self, member: str) -> str:
        """Set: digests of the record ids a pair has read, for specs that tell a record's first appearance."""
        return f"{self.prefix}:{{poll:{_bounded(member)}}}:seen"

    @property
    def schedule_due(self) -> str:
        """Sorted set: every (Scheduler workflow, time zone, schedule) → its next tick (unix s)."""
        return f"{self.prefix}:{{sched}}:due"

    def readiness_probe(self, consumer: str) -> str:
        """String written by /readyz of one process (proof that Redis takes writes); expires after a minute."""
        return f"{self.prefix}:{{health}}:{consumer}"

    def api_window(self, caller: str) -> str:
        """Sorted set of one API key's recent requests to the platform's API (member per request, score: its time
        in µs), for its rate limit; expires one window after the last request it admitted."""
        # Its own hash tag per key: one key per script call, and callers spread over the cluster's slots.
        return f"{self.prefix}:{{api:{part(caller)}}}:window"

    # -- event history indexes (router/history/indexes.py). One hash tag per shard: a filtered query intersects
    # several sets of a shard in one script or pipeline, across projects, and merges the shards' answers.

    def event_index(self, kind: str, *values: str) -> str:
        """Sorted set of event ids (score: the id's time) for one filter value: ``kind`` is all, project,
        integration, provider, type, credential, user or status; values are percent-encoded so no ':' in
        an integration id can make two filters share a key."""
        encoded = ":".join(quote(v, safe="") for v in values)
        return f"{self.prefix}:{self._tag('idx')}:ev:{kind}" + (f":{encoded}" if values else "")

    def job_index(self, kind: str, *values: str) -> str:
        """Sorted set of trigger job ids (score: their event's time): all, project, integration (type), workflow,
        user or status."""
        encoded = ":".join(quote(v, safe="") for v in values)
        return f"{self.prefix}:{self._tag('idx')}:job:{kind}" + (f":{encoded}" if values else "")

    def event_jobs(self, event_id: str) -> str:
        """Hash: an event's HTTP trigger jobs → their delivery status (queued, delivered, failed, dead)."""
        return f"{self.prefix}:{self._tag('idx')}:ev-jobs:{event_id}"

    @property
    def index_registry(self) -> str:
        """Set of every index key ever written, so retention trims them all without a SCAN."""
        return f"{self.prefix}:{self._tag('idx')}:registry"


# -- ids built from several parts (stored in entries and hashes, named by the admin API)


def trigger_job_id(event_id: str, workflow_id: str, owner: str) -> str:
    """A trigger job: deterministic, so an event routed twice yields the same id for the runner to dedupe on."""
    return f"{event_id}:{part(workflow_id)}:{part(owner)}"


def replay_job_id(original_job_id: str, request_id: str) -> str:
    """A trigger job re-created by replay request ``request_id``."""
    return f"{original_job_id}:replay:{part(request_id)}"


def destination_job_id(event_id: str, destination_id: str) -> str:
    """A failure event's delivery to one destination: ``=`` never comes out of ``part``, so no trigger job has it."""
    return f"{event_id}:dest={part(destination_id)}"
