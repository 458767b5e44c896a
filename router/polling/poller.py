"""The polling pass: every due (credential, polled trigger) pair is polled once, by one worker, and each new or
changed record it finds is stored on the ingest stream as an event of that credential.

Any number of workers run the pass (``hookrouter worker``, ``serve`` with workers); a pair is polled only under its
lease and only while it is due (``router.polling.state``), so one tick is one poll whichever worker takes it. A
worker that was down across a tick finds the pair overdue and polls it once, late; the pair's next tick is its
next slot after that poll. Stored like a webhook (``source: poll``, the credential named), a polled record goes
through deduplication (its delivery id: spec, record id and version), routing, history and replay unchanged.

Faults: a provider that answers 429, 408 or 5xx, or not at all, is asked again after an exponential backoff with
jitter, never before its Retry-After; other 4xx answers are asked again after ``retry_failed_after_s``. A poll
takes at most ``poll_budget_s``, under a lease that outlives it. Redis gone: the pass fails before the cursor
moves (records are stored first), and the supervisor runs it again; records stored twice are the same delivery.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from router.polling.fetch import MAX_ANSWER_BYTES, Fetch, Found, PollFailed, Unauthorized
from router.polling.state import PollState, PollStates, slot
from router.polling.tokens import TokenRefresher
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append, EventStore, Once
from subscriptions.oauth import can_refresh, expiring
from subscriptions.polling import Polled, desired_polls
from subscriptions.snapshot import Snapshot, SnapshotCache

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollConfig:
    lease_s: float = 120.0  # longer than a poll may take (poll_budget_s), so two workers never hold one pair
    poll_budget_s: float = 90.0
    backoff_base_s: float = 30.0
    backoff_cap_s: float = 3600.0
    retry_failed_after_s: float = 3600.0
    per_pass: int = 100  # due pairs taken per pass; the rest are due still, and next in line
    concurrency: int = 8
    dedup_ttl_s: int = 7 * 86_400  # a record polled again (a crash before the cursor moved) is the same event
    reconcile_every_s: float = 30.0
    max_answer_bytes: int = MAX_ANSWER_BYTES  # a provider answer past it is refused, and the pair backs off
    # The lifecycle holds provider-side subscriptions (a public URL is set): triggers they serve are not polled.
    subscribed: bool = False


class Poller:
    def __init__(
        self,
        cache: SnapshotCache,
        store: EventStore,
        keys: Keys,
        states: PollStates,
        http: httpx.AsyncClient,
        *,
        config: PollConfig | None = None,
        tokens: TokenRefresher | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._cache = cache
        self._store = store
        self._keys = keys
        self._states = states
        self._http = http
        self._config = config or PollConfig()
        self._tokens = tokens
        self._clock = clock
        self._jitter = jitter
        self._reconciled: tuple[Snapshot | None, float] = (None, 0.0)
        self._wanted: tuple[Snapshot | None, dict[str, Polled]] = (None, {})
        self.interval_s = 1.0  # between passes: how late a due pair may be polled

    async def run_once(self) -> Counter[str]:
        """One pass; returns what it did ({"polled": 3, "retry": 1, ...})."""
        snapshot = await self._cache.refresh()
        if self._wanted[0] is not snapshot:  # snapshots are immutable: work out the pairs once per version
            self._wanted = (snapshot, desired_polls(snapshot, subscribed=self._config.subscribed))
        wanted = self._wanted[1]
        await self._reconcile(snapshot, wanted)
        due = await self._states.due(self._clock(), self._config.per_pass)
        gate = asyncio.Semaphore(self._config.concurrency)

        async def one(member: str) -> str:
            async with gate:
                return await self._one(member, wanted.get(member))

        done = Counter(await asyncio.gather(*(one(m) for m in due)))
        done.pop("none", None)
        if done:
            logger.info("polled", extra={"outcomes": dict(done)})
        return done

    async def _reconcile(self, snapshot: Snapshot, wanted: dict[str, Polled]) -> None:
        # Only when the registry changed, or now and then: new pairs join at their slot, unwanted ones leave.
        last, at = self._reconciled
        now = self._clock()
        if snapshot is last and now - at < self._config.reconcile_every_s:
            return
        scheduled = await self._states.scheduled()
        await self._states.schedule(
            {m: slot(m, now, p.integration.options.poll_interval_s) for m, p in wanted.items() if m not in scheduled}
        )
        await self._states.forget(sorted(scheduled - set(wanted)))
        self._reconciled = (snapshot, now)

    async def _one(self, member: str, target: Polled | None) -> str:
        if target is None:
            return "none"  # no longer wanted: the next reconcile forgets it
        token = await self._states.lease(member, self._config.lease_s)
        if token is None:
            return "busy"  # another worker is polling it
        try:
            if not await self._states.is_due(member, self._clock()):
                return "none"  # polled by another worker between our look and our lease
            return await self._poll(member, target, await self._states.load(member))
        finally:
            await self._states.release(member, token)

    async def _poll(self, member: str, target: Polled, before: PollState) -> str:
        now = self._clock()
        state = dataclasses.replace(before)
        try:
            async with asyncio.timeout(self._config.poll_budget_s):
                found, fetch = await self._fetch(target, state)
        except PollFailed as exc:
            return await self._failed(member, target, before, exc)
        except TimeoutError:
            return await self._failed(member, target, before, PollFailed("timeout", retryable=True))
        if target.spec.seen_ids:
            found = await self._first_seen(member, target, found, fetch)
        else:
            await self._append(target, found)  # first: a cursor never moves past records not stored
        state.attempts, state.error, state.polled_at = 0, "", now
        await self._states.save(member, state, slot(member, now, target.integration.options.poll_interval_s))
        return "polled" if found or before.cursor else "established"

    async def _first_seen(self, member: str, target: Polled, found: list[Found], fetch: Fetch) -> list[Found]:
        """Each record's event type by whether the pair read its id before; stored, then its id kept (or dropped):
        a poll that dies in between reads the records again under the same delivery ids, stored once."""
        forget = set(target.spec.forget_types)
        known = await self._states.known(member, list(dict.fromkeys(f.record_id for f in found)))
        typed: list[Found] = []
        for record in found:
            kind = record.event_type if record.record_id in known else record.if_new
            if kind in forget:
                known.discard(record.record_id)
            else:
                known.add(record.record_id)  # read once in this poll: known to the rest of it
            if kind:
                typed.append(dataclasses.replace(record, event_type=kind))
        await self._append(target, typed)
        gone = {r.record_id: r.event_type in forget for r in typed}
        await self._states.remember(
            member,
            [*fetch.listed, *(i for i, deleted in gone.items() if not deleted)],
            [i for i, deleted in gone.items() if deleted],
            restart=fetch.restarted,
        )
        return typed

    async def _fetch(self, target: Polled, state: PollState) -> tuple[list[Found], Fetch]:
        # A token about to expire is refreshed first; a 401 gets one refresh and one more try.
        refreshable = can_refresh(target.credential, target.integration)
        if self._tokens is not None and refreshable and expiring(target.credential, self._clock()):
            fresh = await self._tokens.refresh(target.integration, target.credential)
            target = Polled(fresh, target.integration, target.spec)
        before = dataclasses.replace(state)
        fetch = Fetch(self._http, target, clock=self._clock, max_bytes=self._config.max_answer_bytes)
        try:
            return await fetch.run(state), fetch
        except Unauthorized:
            if self._tokens is None or not can_refresh(target.credential, target.integration):
                raise
        fresh = await self._tokens.refresh(target.integration, target.credential)
        for field in dataclasses.fields(PollState):
            setattr(state, field.name, getattr(before, field.name))
        fetch = Fetch(
            self._http,
            Polled(fresh, target.integration, target.spec),
            clock=self._clock,
            max_bytes=self._config.max_answer_bytes,
        )
        return await fetch.run(state), fetch

    async def _failed(self, member: str, target: Polled, state: PollState, exc: PollFailed) -> str:
        now = self._clock()
        state.attempts += 1
        state.error = exc.reason
        if exc.retryable:
            delay = min(self._config.backoff_cap_s, self._config.backoff_base_s * 2 ** (state.attempts - 1))
            delay = delay / 2 + self._jitter() * delay / 2  # "equal jitter": spread the workers, keep a floor
            next_at, outcome = now + max(delay, exc.retry_after_s), "retry"
        else:
            next_at, outcome = now + self._config.retry_failed_after_s, "failed"
        await self._states.save(member, state, next_at)
        logger.warning(
            "poll failed",
            extra={"credential_id": target.credential.id, "spec": target.spec.key, "reason": exc.reason},
        )
        return outcome

    async def _append(self, target: Polled, found: list[Found]) -> None:
        cred, integration = target.credential, target.integration
        keys = self._keys.of_event(integration.id, cred.provider_id or "")
        old = self._keys.before_change(integration.id, cred.provider_id or "")  # while a change of N is drained
        received_at = str(int(self._clock() * 1000))
        appends = []
        for record in found:
            event = IngestEvent(
                source="poll",
                project=integration.project,
                integration=integration.id,
                integration_type=integration.type,
                provider_id=cred.provider_id or "",
                credential=cred.id,
                event_type=record.event_type,
                delivery_id=record.delivery_id,
                received_at=received_at,
                headers="{}",
                body=record.body,
            )
            once = Once(
                keys.seen(integration.project, integration.id, record.delivery_id),
                target.spec.dedup_ttl_s or self._config.dedup_ttl_s,
                keys.duplicates,
                integration.id,
                drained=(old.seen(integration.project, integration.id, record.delivery_id), old.index) if old else None,
            )
            appends.append(self._store.add(Append(keys.ingest, event.to_fields(), once)))
        await asyncio.gather(*appends)
