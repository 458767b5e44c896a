"""Polled triggers against loopback provider APIs (tests/router/fake_apis.py) and a real Redis: first polls that
fire nothing, cursors, paging, Retry-After, idempotent re-polls, one poll per tick across racing workers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from redis.asyncio import Redis

from router.egress.policy import EgressPolicy
from router.egress.transport import guarded_client
from router.notifications.events import Notifier
from router.notifications.producers import Transitions
from router.polling.fetch import Fetch, PollFailed
from router.polling.poller import PollConfig, Poller
from router.polling.state import PollState, PollStates, slot
from router.polling.tokens import TokenRefresher
from router.routing.worker import RoutingWorker, WorkerConfig
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.keys import RegistryKeys
from subscriptions.models import Credential, Integration, IntegrationOptions
from subscriptions.oauth import refresh_request
from subscriptions.polling import SPECS, EventRule, Polled, PollSpec, desired_polls
from subscriptions.providers.spec import RequestTemplate
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.clock import Clock
from tests.router.conftest import Seed, xrange_all
from tests.router.fake_apis import FakeApis
from tests.subscriptions.fake_provider import serve_in_thread

pytestmark = pytest.mark.anyio
KEYS = Keys()
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def apis() -> Iterator[FakeApis]:
    with serve_in_thread(FakeApis()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


def make_poller(redis: Redis, registry: Registry, http: httpx.AsyncClient, clock: Clock, **config: Any) -> Poller:
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="poller")
    cache, states = SnapshotCache(registry), PollStates(redis, KEYS)
    tokens = TokenRefresher(registry, cache, states, Transitions(redis, KEYS), Notifier(store, KEYS), http, clock=clock)
    return Poller(
        cache, store, KEYS, states, http, config=PollConfig(**config), tokens=tokens, clock=clock, jitter=lambda: 1.0
    )


@pytest.fixture
def poller(redis: Redis, registry: Registry, http: httpx.AsyncClient, clock: Clock) -> Poller:
    return make_poller(redis, registry, http, clock)


async def seed_polled(
    seed: Seed,
    apis: FakeApis,
    kind: str,
    triggers: list[str],
    *,
    params: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> None:
    options = {
        "api_base_url": apis.base,
        "token_url": f"{apis.base}/oauth/token",
        "client_id": "client-1",
        "client_secret": "client-secret-1",
    }
    await seed(
        integration=[{"id": "app", "type": kind, "options": options}],
        user=[{"id": "u1", "metadata": {"email": "ada@example.com"}}],
        credential=[{"id": "cred-1", "user": "u1", "integration": "app", "values": values or {"access_token": "tok"}}],
        workflow=[
            {"id": f"wf-{n}", "integration": "app", "trigger": t, "trigger_params": params or {}}
            for n, t in enumerate(triggers)
        ],
        activate=[(f"wf-{n}", "u1") for n in range(len(triggers))],
    )


async def events(redis: Redis) -> list[dict[str, str]]:
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in await xrange_all(redis, KEYS.ingest)]


async def tick(poller: Poller, clock: Clock, seconds: float = 60.0) -> Any:
    clock.now += seconds
    return await poller.run_once()


def sf(record_id: str, created: str, modified: str, kind: str = "Contact") -> dict[str, Any]:
    return {"attributes": {"type": kind}, "Id": record_id, "CreatedDate": created, "LastModifiedDate": modified}


# -- Salesforce ------------------------------------------------------------------------------------------------------


async def test_salesforce_first_poll_fires_nothing_then_new_and_updated_records_fire_once(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.salesforce = [sf("003-old", "2025-12-01T00:00:00.000+0000", "2025-12-01T00:00:00.000+0000")]
    await seed_polled(seed, apis, "salesforce", ["New Record", "Record Updated"])
    assert await poller.run_once() == {}  # scheduled at its slot within the minute, not polled yet
    assert await tick(poller, clock) == {"established": 1}
    assert apis.calls == [] and await events(redis) == []  # the cursor starts now: history fires nothing

    apis.salesforce += [
        sf("003-new", "2026-01-01T00:01:30.000+0000", "2026-01-01T00:01:30.000+0000"),
        sf("003-upd", "2025-06-01T00:00:00.000+0000", "2026-01-01T00:01:40.000+0000"),
    ]
    assert await tick(poller, clock) == {"polled": 1}  # one poll for both triggers of the credential
    [call] = apis.calls
    assert call.headers["authorization"] == "Bearer tok"
    assert call.query["q"] == (
        "SELECT FIELDS(STANDARD) FROM Contact WHERE (LastModifiedDate > 2026-01-01T00:01:00Z OR "
        "(LastModifiedDate = 2026-01-01T00:01:00Z AND Id > '000000000000000')) "
        "ORDER BY LastModifiedDate ASC, Id ASC LIMIT 200"
    )
    stored = await events(redis)
    assert [(e["event_type"], json.loads(e["body"])["Id"]) for e in stored] == [
        ("record.created", "003-new"),
        ("record.updated", "003-upd"),
    ]
    assert {(e["source"], e["credential"], e["integration_type"]) for e in stored} == {("poll", "cred-1", "salesforce")}
    assert stored[0]["delivery_id"] == "poll:salesforce:records:003-new:2026-01-01T00:01:30.000+0000"

    # Polled again: past the last record read (its time, then its id), so nothing is asked twice.
    assert await tick(poller, clock) == {"polled": 1}
    assert "(LastModifiedDate = 2026-01-01T00:01:40Z AND Id > '003-upd')" in apis.calls[-1].query["q"]
    assert len(await events(redis)) == 2
    assert int(await redis.hget(KEYS.duplicates, "app") or 0) == 0


async def test_polled_records_are_routed_to_the_workflows_of_their_trigger(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record", "Record Updated"])
    await poller.run_once()
    await tick(poller, clock)
    apis.salesforce = [sf("003-a", "2026-01-01T00:01:30.000+0000", "2026-01-01T00:01:30.000+0000")]
    await tick(poller, clock)
    store = EventStore(redis, maxlen=100_000, group=ROUTING_GROUP, consumer="w1")
    worker = RoutingWorker(store, SnapshotCache(registry), KEYS, WorkerConfig(block_ms=0))
    await worker.run_once()
    assert len(await xrange_all(redis, KEYS.triggers("wf-0"))) == 1  # New Record
    assert await xrange_all(redis, KEYS.triggers("wf-1")) == []  # Record Updated: not an update


async def test_salesforce_many_changes_are_read_in_pages_within_one_poll(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["Record Updated"], params={"object": "Account"})
    await poller.run_once()
    await tick(poller, clock)
    apis.salesforce = [
        sf(
            f"001-{n:03}",
            "2025-01-01T00:00:00.000+0000",
            f"2026-01-01T00:0{1 + n // 60}:{n % 60:02}.000+0000",
            "Account",
        )
        for n in range(450)
    ]
    assert await tick(poller, clock, 600) == {"polled": 1}
    assert len(apis.calls) == 3  # 200 + 200 + 50, each asked from the newest record of the page before
    assert all("FROM Account " in c.query["q"] for c in apis.calls)
    assert len({json.loads(e["body"])["Id"] for e in await events(redis)}) == 450
    assert len(await events(redis)) == 450


async def test_more_than_a_page_of_records_changed_in_one_second_are_all_read(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    # A bulk update: 450 records share one LastModifiedDate second. A cursor of the time alone would ask that
    # second again and again, never past its first 200; the (time, Id) keyset goes on past them.
    await seed_polled(seed, apis, "salesforce", ["Record Updated"], params={"object": "Account"})
    await poller.run_once()
    await tick(poller, clock)
    bulk = "2026-01-01T00:01:30.000+0000"
    apis.salesforce = [sf(f"001{n:012}", "2025-01-01T00:00:00.000+0000", bulk, "Account") for n in range(450)]
    assert await tick(poller, clock, 600) == {"polled": 1}
    assert len(apis.calls) == 3
    assert [c.query["q"].split("Id > ")[1].split("'")[1] for c in apis.calls] == [
        "000000000000000",
        "001000000000199",
        "001000000000399",
    ]
    assert sorted(json.loads(e["body"])["Id"] for e in await events(redis)) == [f"001{n:012}" for n in range(450)]
    apis.salesforce.append(sf("001zzzzzzzzzzzz", "2025-01-01T00:00:00.000+0000", bulk, "Account"))  # same second
    assert await tick(poller, clock) == {"polled": 1}
    assert [json.loads(e["body"])["Id"] for e in await events(redis)][450:] == ["001zzzzzzzzzzzz"]
    assert int(await redis.hget(KEYS.duplicates, "app") or 0) == 0


async def test_a_429_backs_off_for_its_retry_after_and_fires_nothing_twice(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record"])
    await poller.run_once()
    await tick(poller, clock)
    apis.salesforce = [sf("003-a", "2026-01-01T00:01:30.000+0000", "2026-01-01T00:01:30.000+0000")]
    apis.fail(429, **{"retry-after": "300"})
    assert await tick(poller, clock) == {"retry": 1}
    member = next(iter(await PollStates(redis, KEYS).scheduled()))
    next_at = await PollStates(redis, KEYS).next_at(member)
    assert next_at == pytest.approx(clock.now + 300)  # Retry-After beats the 30 s backoff
    state = await PollStates(redis, KEYS).load(member)
    assert (state.attempts, state.error) == (1, "http_429")
    assert await tick(poller, clock, 120) == {}  # not before Retry-After
    assert await tick(poller, clock, 200) == {"polled": 1}
    assert [json.loads(e["body"])["Id"] for e in await events(redis)] == ["003-a"]
    assert (await PollStates(redis, KEYS).load(member)).attempts == 0


async def test_a_server_error_backs_off_exponentially(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record"])
    await poller.run_once()
    await tick(poller, clock)
    states = PollStates(redis, KEYS)
    [member] = await states.scheduled()
    delays = []
    for _ in range(3):
        apis.fail(503)
        due = await states.next_at(member)
        assert due is not None
        clock.now = due
        assert await poller.run_once() == {"retry": 1}
        after = await states.next_at(member)
        assert after is not None
        delays.append(after - clock.now)
    assert delays == [30, 60, 120]


async def test_two_racing_workers_poll_each_tick_once(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, http: httpx.AsyncClient, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record"])
    first, second = make_poller(redis, registry, http, clock), make_poller(redis, registry, http, clock)
    await first.run_once()
    clock.now += 60
    await first.run_once()  # established
    apis.delay_s = 0.3  # hold the first poll in flight while the other worker looks
    for _ in range(3):
        clock.now += 60
        done = await asyncio.gather(first.run_once(), second.run_once())
        assert sum(d["polled"] for d in done) == 1, done
    assert len(apis.calls) == 3


async def test_a_worker_down_across_ticks_polls_once_late_then_keeps_its_slot(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record"])
    await poller.run_once()
    await tick(poller, clock)
    [member] = await PollStates(redis, KEYS).scheduled()
    assert await tick(poller, clock, 5 * 60) == {"polled": 1}  # five ticks missed: one poll, not five
    assert await poller.run_once() == {}
    assert await PollStates(redis, KEYS).next_at(member) == slot(member, clock.now, 60)


async def test_a_pair_no_workflow_needs_is_forgotten(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record"])
    await poller.run_once()
    await tick(poller, clock)
    [member] = await PollStates(redis, KEYS).scheduled()
    assert await redis.exists(KEYS.poll_state(member))
    await registry.delete("workflow", "wf-0")
    await tick(poller, clock)
    assert await PollStates(redis, KEYS).scheduled() == set()
    assert not await redis.exists(KEYS.poll_state(member))


def test_slots_spread_pairs_over_the_interval() -> None:
    offsets = [slot(f"cred-{n}|salesforce:records", T0, 60) - T0 for n in range(1000)]
    assert all(0 < o <= 60 for o in offsets)
    per_10s = [sum(1 for o in offsets if k * 10 < o <= (k + 1) * 10) for k in range(6)]
    assert min(per_10s) > 120  # about 167 each: no thundering herd at second 0
    assert slot("cred-1|x", T0, 60) == slot("cred-1|x", T0 + 0.001, 60)  # stable within the interval


# -- Google Calendar -------------------------------------------------------------------------------------------------


def gcal(event_id: str, created: str, updated: str, status: str = "confirmed") -> dict[str, Any]:
    return {"id": event_id, "status": status, "created": created, "updated": updated, "summary": event_id}


async def test_google_calendar_syncs_history_silently_then_fires_changes(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.calendar_log = [gcal(f"old-{n}", "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z") for n in range(600)]
    await seed_polled(seed, apis, "google-calendar", ["New Event", "Event Updated", "Event Cancelled"])
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}
    assert [c.query.get("pageToken") for c in apis.calls] == [None, "0:250", "0:500"]  # history paged through
    assert "syncToken" not in apis.calls[0].query and await events(redis) == []

    apis.calendar_log += [
        gcal("new", "2026-01-01T00:01:00.000Z", "2026-01-01T00:01:00.120Z"),
        gcal("old-1", "2025-01-01T00:00:00.000Z", "2026-01-01T00:01:10.000Z"),
        gcal("old-2", "2025-01-01T00:00:00.000Z", "2026-01-01T00:01:20.000Z", status="cancelled"),
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["syncToken"] == "600"
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)] == [
        ("event.created", "new"),
        ("event.updated", "old-1"),
        ("event.cancelled", "old-2"),
    ]
    assert await tick(poller, clock) == {"polled": 1}  # nothing changed since: nothing stored
    assert apis.calls[-1].query["syncToken"] == "603" and len(await events(redis)) == 3


async def test_google_calendar_expired_sync_token_starts_over_without_firing_history(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.calendar_log = [gcal("a", "2025-01-01T00:00:00.000Z", "2025-01-01T00:00:00.000Z")]
    await seed_polled(seed, apis, "google-calendar", ["New Event"], params={"calendarId": "team@example.com"})
    await poller.run_once()
    await tick(poller, clock)
    assert apis.calls[0].path == "/calendar/v3/calendars/team@example.com/events"
    apis.expired_sync_tokens.add("1")
    apis.calendar_log.append(gcal("b", "2026-01-01T00:01:00.000Z", "2026-01-01T00:01:00.000Z"))
    await tick(poller, clock)  # 410 Gone: the token is dropped
    await tick(poller, clock)  # full sync again: a new token, no event for what the listing holds
    assert await events(redis) == []
    apis.calendar_log.append(gcal("c", "2026-01-01T00:03:00.000Z", "2026-01-01T00:03:00.000Z"))
    await tick(poller, clock)
    assert [json.loads(e["body"])["id"] for e in await events(redis)] == ["c"]


# -- OAuth token refresh ---------------------------------------------------------------------------------------------


async def established_salesforce(seed: Seed, apis: FakeApis, poller: Poller, clock: Clock, **values: str) -> None:
    await seed_polled(seed, apis, "salesforce", ["New Record"], values={"refresh_token": "rt-1", **values})
    await poller.run_once()
    await tick(poller, clock)
    apis.salesforce = [sf("003-a", "2026-01-01T00:01:30.000+0000", "2026-01-01T00:01:30.000+0000")]


async def test_a_401_refreshes_the_token_stores_it_sealed_and_polls_again(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await established_salesforce(seed, apis, poller, clock, access_token="expired")
    apis.refresh["rt-1"] = (200, {"access_token": "tok-2", "refresh_token": "rt-2", "expires_in": 3600})
    assert await tick(poller, clock) == {"polled": 1}
    query, token, again = apis.calls
    assert query.headers["authorization"] == "Bearer expired" and again.headers["authorization"] == "Bearer tok-2"
    assert token.path == "/oauth/token"
    form = dict(pair.split("=") for pair in token.body.decode().split("&"))
    assert form == {
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
        "client_id": "client-1",
        "client_secret": "client-secret-1",
    }
    [event] = await events(redis)
    assert json.loads(event["body"])["Id"] == "003-a"
    cred = await registry.get("credential", "cred-1")
    assert isinstance(cred, Credential)
    values = {k: v.get_secret_value() for k, v in cred.values.items()}
    assert values == {"access_token": "tok-2", "refresh_token": "rt-2", "expires_at": str(int(clock.now) + 3600)}
    stored = "".join(str(v) for v in await redis.hvals(RegistryKeys().records("credential")))
    assert "tok-2" not in stored and "rt-2" not in stored and "cred-1" in stored  # sealed at rest


async def test_a_token_about_to_expire_is_refreshed_before_the_poll(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await established_salesforce(seed, apis, poller, clock, access_token="tok", expires_at=str(int(T0) + 150))
    apis.refresh["rt-1"] = (200, {"access_token": "tok-2", "expires_in": 3600})
    assert await tick(poller, clock) == {"polled": 1}
    assert [c.path for c in apis.calls] == ["/oauth/token", "/services/data/v59.0/query"]


async def test_a_refused_refresh_marks_the_credential_invalid_and_notifies_once(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, http: httpx.AsyncClient, clock: Clock
) -> None:
    first, second = make_poller(redis, registry, http, clock), make_poller(redis, registry, http, clock)
    await established_salesforce(seed, apis, first, clock, access_token="expired")
    apis.refresh["rt-1"] = (400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
    clock.now += 60
    done = await asyncio.gather(first.run_once(), second.run_once())
    assert sum(d["failed"] for d in done) == 1
    cred = await registry.get("credential", "cred-1")
    assert isinstance(cred, Credential) and cred.status == "INVALID"
    [(_, fields)] = await xrange_all(redis, KEYS.notifications)
    failure = json.loads(fields[b"event"])
    assert failure["type"] == "credentials_failure"
    assert failure["data"] == {"userId": "u1", "error": "invalid_grant: expired access/refresh token"}
    assert failure["integration"] == {"id": "app", "type": "salesforce"}
    assert failure["user"] == {"id": "u1", "metadata": {"email": "ada@example.com"}}
    assert set(failure) == {"type", "timestamp", "timestampISO", "message", "user", "project", "integration", "data"}
    for _ in range(3):  # an INVALID credential is polled no more, and nobody is told twice
        await asyncio.gather(tick(first, clock), second.run_once())
    assert len(await xrange_all(redis, KEYS.notifications)) == 1
    assert [c.path for c in apis.calls].count("/oauth/token") == 1
    assert await events(redis) == []


async def test_a_token_endpoint_that_is_down_is_asked_again_later(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await established_salesforce(seed, apis, poller, clock, access_token="expired")
    apis.refresh["rt-1"] = (503, {"error": "temporarily_unavailable"})
    assert await tick(poller, clock) == {"retry": 1}
    cred = await registry.get("credential", "cred-1")
    assert isinstance(cred, Credential) and cred.status == "VALID"
    apis.refresh["rt-1"] = (200, {"access_token": "tok-2"})
    assert await tick(poller, clock, 60) == {"polled": 1}
    assert len(await events(redis)) == 1


# -- Google Drive, Google Sheets, Pipedrive --------------------------------------------------------------------------


def change(
    file_id: str, time: str, *, created: str = "", removed: bool = False, trashed: bool = False
) -> dict[str, Any]:
    if removed:
        return {"kind": "drive#change", "fileId": file_id, "removed": True, "time": time}
    file = {"id": file_id, "name": file_id, "trashed": trashed, "createdTime": created or time, "modifiedTime": time}
    return {"kind": "drive#change", "fileId": file_id, "removed": False, "time": time, "file": file}


async def test_google_drive_changes_from_the_start_page_token(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.drive_log = [change(f"old-{n}", "2025-01-01T00:00:00.000Z") for n in range(5)]
    await seed_polled(seed, apis, "google-drive", ["File Created", "File Deleted"])
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}
    assert [c.path for c in apis.calls] == ["/drive/v3/changes/startPageToken"]
    apis.drive_log += [change(f"new-{n}", f"2026-01-01T00:0{1 + n // 60}:{n % 60:02}.000Z") for n in range(130)]
    apis.drive_log += [
        change("doc", "2026-01-01T00:04:00.000Z", created="2025-05-01T00:00:00.000Z"),
        change("bin", "2026-01-01T00:04:01.000Z", trashed=True),
        change("gone", "2026-01-01T00:04:02.000Z", removed=True),
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert [c.query["pageToken"] for c in apis.calls[1:]] == ["5", "105"]  # nextPageToken, then newStartPageToken
    kinds = [e["event_type"] for e in await events(redis)]
    assert kinds == ["file.created"] * 130 + ["file.updated", "file.deleted", "file.deleted"]
    await tick(poller, clock)
    assert apis.calls[-1].query["pageToken"] == "138"


async def test_google_sheets_new_rows_fire_row_by_row(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.sheet = [["name", "email"], ["Ada", "ada@example.com"]]
    await seed_polled(seed, apis, "google-sheets", ["File Updated"], params={"spreadsheetId": "sheet-1"})
    await poller.run_once()
    await tick(poller, clock)
    assert apis.calls[0].path == "/v4/spreadsheets/sheet-1/values/A:ZZ"
    apis.sheet += [["Grace", "grace@example.com"], ["Linus", "linus@example.com"]]
    await tick(poller, clock)
    await tick(poller, clock)  # nothing new
    assert [(e["event_type"], json.loads(e["body"])) for e in await events(redis)] == [
        ("row.created", {"row": 3, "values": ["Grace", "grace@example.com"]}),
        ("row.created", {"row": 4, "values": ["Linus", "linus@example.com"]}),
    ]


async def test_pipedrive_leads_newest_first_until_one_older_than_the_cursor(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.leads = [{"id": f"old-{n}", "add_time": "2025-01-01T00:00:00.000Z"} for n in range(300)]
    await seed_polled(seed, apis, "pipedrive", ["Lead Created"])
    await poller.run_once()
    await tick(poller, clock)
    apis.leads += [
        {"id": f"lead-{n}", "add_time": f"2026-01-01T00:0{1 + n // 60}:{n % 60:02}.000Z"} for n in range(150)
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert [c.query.get("start") for c in apis.calls] == [None, "100"]  # the second page reached older leads
    stored = await events(redis)
    assert len(stored) == 150 and {e["event_type"] for e in stored} == {"added.lead"}
    await tick(poller, clock)
    assert len(await events(redis)) == 150


def _containers(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.sampled_from(
        [
            "records",
            "items",
            "changes",
            "values",
            "data",
            "Id",
            "id",
            "fileId",
            "nextPageToken",
            "nextSyncToken",
            "newStartPageToken",
            "startPageToken",
            "LastModifiedDate",
            "updated",
            "status",
            "file",
            "removed",
            "add_time",
            "additional_data",
        ]
    ) | st.text(max_size=4)
    return st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6)


# -- the egress guard and hostile answers ----------------------------------------------------------------------------


async def test_polls_go_through_the_egress_guard(
    redis: Redis, registry: Registry, seed: Seed, apis: FakeApis, clock: Clock
) -> None:
    guarded = guarded_client(EgressPolicy())  # loopback not allowed, as in production
    async with guarded:
        poller = make_poller(redis, registry, guarded, clock)
        await seed_polled(seed, apis, "google-drive", ["File Created"])
        await poller.run_once()
        assert await tick(poller, clock) == {"failed": 1}  # refused for good: not retried every second
    assert apis.calls == []
    [member] = await PollStates(redis, KEYS).scheduled()
    assert (await PollStates(redis, KEYS).next_at(member) or 0) >= clock.now + 3600


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8), _containers, max_leaves=30))
async def test_any_answer_gives_records_or_a_poll_failure(answer: Any) -> None:
    for spec in {id(s): s for table in SPECS.values() for s in table.values()}.values():
        for cursor in ("", "2026-01-01T00:00:00+00:00", "7", "tok"):

            def reply(request: httpx.Request, answer: Any = answer) -> httpx.Response:
                return httpx.Response(200, json=answer)

            target = Polled(
                Credential(id="c", project="p", user="u", integration="i", values={"access_token": SecretStr("t")}),
                Integration(id="i", project="p", type="salesforce"),
                spec,
            )
            async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
                state = PollState(cursor=cursor)
                try:
                    found = await Fetch(client, target, clock=lambda: T0).run(state)
                except PollFailed as exc:
                    assert exc.reason
                else:
                    assert all(f.delivery_id.startswith(f"poll:{spec.key}:") for f in found)


async def test_notion_pages_by_last_edited_time_through_search(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.notion = [{"object": "page", "id": f"old-{n}", "created_time": "2025-01-01T00:00:00.000Z",
                    "last_edited_time": "2025-01-01T00:00:00.000Z"} for n in range(120)]  # fmt: skip
    await seed_polled(seed, apis, "notion", ["Page Created", "Page Updated"])
    await poller.run_once()
    await tick(poller, clock)
    apis.notion += [
        {"object": "page", "id": "new", "created_time": "2026-01-01T00:01:00.000Z",
         "last_edited_time": "2026-01-01T00:01:00.000Z"},
        {"object": "page", "id": "old-3", "created_time": "2025-01-01T00:00:00.000Z",
         "last_edited_time": "2026-01-01T00:01:00.000Z"},
    ]  # fmt: skip
    assert await tick(poller, clock) == {"polled": 1}
    assert len(apis.calls) == 1 and json.loads(apis.calls[0].body)["sort"]["timestamp"] == "last_edited_time"
    assert sorted((e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)) == [
        ("page.created", "new"),
        ("page.updated", "old-3"),
    ]


async def test_outreach_prospects_changed_since_the_cursor(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "outreach", ["New Prospect", "Prospect Updated"])
    await poller.run_once()
    await tick(poller, clock)
    apis.outreach["prospects"] = [
        {"type": "prospect", "id": 7, "attributes": {"createdAt": "2026-01-01T00:01:05.000Z",
                                                     "updatedAt": "2026-01-01T00:01:05.000Z"}},
        {"type": "prospect", "id": 8, "attributes": {"createdAt": "2024-01-01T00:00:00.000Z",
                                                     "updatedAt": "2026-01-01T00:01:09.000Z"}},
    ]  # fmt: skip
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[0].query["filter[updatedAt]"] == "2026-01-01T00:01:00Z..inf"
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)] == [
        ("prospect.created", 7),
        ("prospect.updated", 8),
    ]


@pytest.mark.parametrize("declared", [True, False])
async def test_an_answer_past_the_size_cap_is_refused_and_backed_off_and_nothing_is_skipped(
    redis: Redis, seed: Seed, registry: Registry, apis: FakeApis, http: httpx.AsyncClient, clock: Clock, declared: bool
) -> None:
    poller = make_poller(redis, registry, http, clock, max_answer_bytes=64 * 1024)
    await seed_polled(seed, apis, "salesforce", ["New Record"])
    await poller.run_once()
    await tick(poller, clock)
    apis.salesforce = [sf("003-big", "2026-01-01T00:01:30.000+0000", "2026-01-01T00:01:30.000+0000")]
    apis.padding, apis.declare_length = 1024 * 1024, declared  # past the cap, with or without a Content-Length
    assert await tick(poller, clock) == {"retry": 1}
    states = PollStates(redis, KEYS)
    [member] = await states.scheduled()
    state = await states.load(member)
    assert (state.attempts, state.error) == (1, "answer_too_large") and await events(redis) == []
    assert await states.next_at(member) == pytest.approx(clock.now + 30)  # the backoff, as for a 5xx
    apis.padding = 1024  # within the cap (whitespace JSON allows): the same record, not skipped
    assert await tick(poller, clock, 30) == {"polled": 1}
    assert [json.loads(e["body"])["Id"] for e in await events(redis)] == ["003-big"]


# -- Outlook: Microsoft Graph message delta --------------------------------------------------------------------------


def message(n: int, at: str = "2026-01-01T00:00:00Z") -> dict[str, Any]:
    return {"id": f"AAMk-{n}", "subject": f"hello {n}", "createdDateTime": at, "lastModifiedDateTime": at}


async def test_outlook_pages_through_the_inbox_silently_then_fires_each_new_message_once(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.mail = [message(n) for n in range(120)]
    await seed_polled(seed, apis, "outlook", ["New Message"])
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}
    assert len(apis.calls) == 3 and await events(redis) == []  # 50 + 50 + 20 through the next links
    assert apis.calls[0].query["changeType"] == "created" and apis.calls[0].headers["prefer"] == "odata.maxpagesize=50"
    assert [c.query.get("$skiptoken") for c in apis.calls] == [None, "0.50", "0.100"]
    apis.mail += [message(120, "2026-01-01T00:01:10Z"), message(121, "2026-01-01T00:01:20Z")]
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query == {"$deltatoken": "120"}  # the delta link, used as it was given
    assert apis.calls[-1].headers["authorization"] == "Bearer tok"
    stored = await events(redis)
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in stored] == [
        ("message.created", "AAMk-120"),
        ("message.created", "AAMk-121"),
    ]
    assert stored[0]["delivery_id"] == "poll:outlook:messages:AAMk-120:2026-01-01T00:01:10Z"
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query == {"$deltatoken": "122"} and len(await events(redis)) == 2


async def test_outlook_an_expired_delta_link_starts_over_without_firing_history(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.mail = [message(n) for n in range(3)]
    await seed_polled(seed, apis, "outlook", ["New Message"])
    await poller.run_once()
    await tick(poller, clock)
    apis.expired_delta_tokens.add("3")
    apis.mail.append(message(3))
    assert await tick(poller, clock) == {"polled": 1}  # 410 Gone: the link is dropped, nothing fires
    assert await tick(poller, clock) == {"established": 1}  # a new round over the folder, silently
    apis.mail.append(message(4))
    assert await tick(poller, clock) == {"polled": 1}
    assert [json.loads(e["body"])["id"] for e in await events(redis)] == ["AAMk-4"]


async def test_outlook_a_link_to_another_origin_is_never_followed(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.mail = [message(n) for n in range(60)]
    apis.link_base = "http://graph.attacker.example"  # the access token must not go there
    await seed_polled(seed, apis, "outlook", ["New Message"])
    await poller.run_once()
    assert await tick(poller, clock) == {"failed": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert (await PollStates(redis, KEYS).load(member)).error == "foreign_link"
    assert len(apis.calls) == 1


async def test_outlook_throttling_waits_for_retry_after(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "outlook", ["New Message"])
    await poller.run_once()
    await tick(poller, clock)
    apis.fail(429, **{"retry-after": "120"})
    assert await tick(poller, clock) == {"retry": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert await PollStates(redis, KEYS).next_at(member) == pytest.approx(clock.now + 120)


async def test_a_trigger_a_graph_subscription_serves_is_not_also_polled(
    redis: Redis, seed: Seed, registry: Registry, apis: FakeApis, http: httpx.AsyncClient, clock: Clock
) -> None:
    await seed_polled(seed, apis, "outlook", ["New Message"])
    snapshot = await SnapshotCache(registry).refresh()
    assert [p.spec.key for p in desired_polls(snapshot).values()] == ["outlook:messages"]
    assert desired_polls(snapshot, subscribed=True) == {}  # pushed by Graph: never both
    subscribed = make_poller(redis, registry, http, clock, subscribed=True)
    await subscribed.run_once()
    assert await tick(subscribed, clock) == {} and apis.calls == []


# -- Jira: JQL by updated, to the minute ----------------------------------------------------------------------------


def issue(n: int, created: str, updated: str) -> dict[str, Any]:
    return {
        "id": str(10_000 + n),
        "key": f"PROJ-{n}",
        "fields": {"summary": f"issue {n}", "created": created, "updated": updated},
    }


async def test_jira_reads_the_overlap_minute_again_and_stores_each_issue_version_once(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(
        seed, apis, "jira", ["New Issue", "Issue Updated"], values={"access_token": "tok", "cloud_id": "cloud-1"}
    )
    await poller.run_once()
    apis.now = clock.now + 60
    await tick(poller, clock)  # the cursor starts at 00:01:00
    apis.issues = [
        issue(1, "2025-06-01T00:00:00.000+0000", "2025-06-01T00:00:00.000+0000"),  # untouched: never read
        issue(2, "2026-01-01T00:01:10.000+0000", "2026-01-01T00:01:10.000+0000"),
        issue(3, "2025-06-01T00:00:00.000+0000", "2026-01-01T00:01:50.000+0000"),
    ]
    apis.now = clock.now + 60
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["jql"] == "updated >= -2m ORDER BY updated ASC"  # minutes since 00:01:00, and one
    assert apis.calls[-1].path == "/ex/jira/cloud-1/rest/api/3/search/jql"
    first = [(e["event_type"], json.loads(e["body"])["key"]) for e in await events(redis)]
    assert first == [("issue.created", "PROJ-2"), ("issue.updated", "PROJ-3")]
    # The next poll asks from the minute of the newest (00:01:50): both come again, and neither is stored twice.
    apis.issues[1] = issue(2, "2026-01-01T00:01:10.000+0000", "2026-01-01T00:02:30.000+0000")  # changed again
    apis.now = clock.now + 60
    assert await tick(poller, clock) == {"polled": 1}
    assert {json.loads(e["body"])["key"] for e in await events(redis)} == {"PROJ-2", "PROJ-3"}
    assert [(e["event_type"], json.loads(e["body"])["key"]) for e in await events(redis)][2:] == [
        ("issue.updated", "PROJ-2")
    ]
    assert int(await redis.hget(KEYS.duplicates, "app") or 0) == 1  # PROJ-3, read again in the overlap


async def test_jira_pages_on_with_next_page_tokens_oldest_first(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "jira", ["Issue Updated"], values={"access_token": "tok", "cloud_id": "cloud-1"})
    await poller.run_once()
    apis.now = clock.now + 60
    await tick(poller, clock)
    apis.issues = [
        issue(n, "2025-06-01T00:00:00.000+0000", f"2026-01-01T00:0{2 + n // 60}:{n % 60:02}.000+0000")
        for n in range(250)
    ]
    apis.now = clock.now + 600
    assert await tick(poller, clock, 600) == {"polled": 1}
    assert [c.query.get("nextPageToken") for c in apis.calls[-3:]] == [None, "100", "200"]
    assert len({json.loads(e["body"])["key"] for e in await events(redis)}) == 250


async def test_jira_rate_limits_wait_for_retry_after(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "jira", ["New Issue"], values={"access_token": "tok", "cloud_id": "cloud-1"})
    await poller.run_once()
    await tick(poller, clock)
    apis.fail(429, **{"retry-after": "90"})
    assert await tick(poller, clock) == {"retry": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert await PollStates(redis, KEYS).next_at(member) == pytest.approx(clock.now + 90)


# -- Lever: updatedAt in Unix milliseconds ---------------------------------------------------------------------------

MS = int(T0 * 1000)


def opportunity(n: int, created_ms: int, updated_ms: int) -> dict[str, Any]:
    return {"id": f"opp-{n}", "name": f"candidate {n}", "createdAt": created_ms, "updatedAt": updated_ms}


async def test_lever_asks_from_the_cursor_in_milliseconds_and_pages_through_every_page(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "lever", ["Candidate Created", "Candidate Updated"])
    await poller.run_once()
    await tick(poller, clock)  # the cursor: 00:01:00
    apis.opportunities = [opportunity(0, MS - 86_400_000, MS - 86_400_000)]  # untouched since yesterday
    apis.opportunities += [opportunity(n, MS + 70_000 + n, MS + 70_000 + n) for n in range(1, 151)]  # new, unordered
    apis.opportunities.reverse()
    apis.opportunities.append(opportunity(999, MS - 86_400_000, MS + 65_000))  # an old candidate, changed
    assert await tick(poller, clock) == {"polled": 1}
    assert [(c.query["updated_at_start"], c.query.get("offset")) for c in apis.calls] == [
        (str(MS + 60_000), None),
        (str(MS + 60_000), "100"),
    ]
    stored = await events(redis)
    kinds = {json.loads(e["body"])["id"]: e["event_type"] for e in stored}
    assert len(stored) == 151 and kinds["opp-999"] == "candidate.updated" and kinds["opp-1"] == "candidate.created"
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["updated_at_start"] == str(MS + 70_150)  # the newest read, in ms
    assert len(await events(redis)) == 151  # opp-150 again, stored once


# -- QuickBooks: Change Data Capture ---------------------------------------------------------------------------------


def qbo(n: int, created: str, updated: str) -> dict[str, Any]:
    return {
        "Id": str(n),
        "DisplayName": f"customer {n}",
        "MetaData": {"CreateTime": created, "LastUpdatedTime": updated},
    }


async def test_quickbooks_new_customers_fire_once_and_a_full_answer_is_asked_again_from_its_newest(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "quickbooks", ["New Customer"], values={"access_token": "tok", "realm_id": "realm-1"})
    await poller.run_once()
    await tick(poller, clock)  # the cursor: 2026-01-01T00:01:00Z
    old = "2025-06-01T00:00:00-08:00"
    apis.qbo["Customer"] = [qbo(1, old, old)]  # untouched: never read
    at = [f"2025-12-31T16:{2 + n // 60:02}:{n % 60:02}-08:00" for n in range(1202)]
    apis.qbo["Customer"] += [qbo(n, at[n], at[n]) for n in range(2, 1202)]
    apis.qbo["Customer"].append(qbo(5000, old, "2025-12-31T16:01:30-08:00"))  # an old customer, changed
    assert await tick(poller, clock, 3600) == {"polled": 1}
    assert len(apis.calls) == 2  # 1000, then from the newest of those: the last 201 (one read again)
    assert apis.calls[0].query["entities"] == "Customer" and apis.calls[0].path == "/v3/company/realm-1/cdc"
    kinds = {json.loads(e["body"])["Id"]: e["event_type"] for e in await events(redis)}
    assert len(await events(redis)) == len(kinds) == 1201 and "1" not in kinds  # each once; the untouched one never
    assert kinds.pop("5000") == "customer.updated"  # stored; New Customer takes customer.created only
    assert set(kinds.values()) == {"customer.created"}


# -- Outlook calendar: Microsoft Graph calendarView delta ------------------------------------------------------------


def graph_time(seconds: float) -> str:
    """T0 + seconds as Graph writes times: UTC, seven fractional digits."""
    return datetime.fromtimestamp(T0 + seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "3Z"


def calendar_event(n: int, created: float, modified: float, starts: str = "2026-01-05T10:00:00") -> dict[str, Any]:
    return {
        "id": f"AAMkE-{n}",
        "subject": f"meeting {n}",
        "createdDateTime": graph_time(created),
        "lastModifiedDateTime": graph_time(modified),
        "start": {"dateTime": starts, "timeZone": "UTC"},
        "end": {"dateTime": starts.replace("T10", "T11"), "timeZone": "UTC"},
    }


async def test_outlook_events_page_through_the_window_silently_then_fire_created_and_updated(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    old = -30 * 86_400.0
    apis.graph_logs["calendar"] = [calendar_event(n, old, old) for n in range(60)]
    apis.graph_logs["calendar"].append(calendar_event(99, old, old, starts="2028-01-01T10:00:00"))  # past the window
    await seed_polled(seed, apis, "outlook", ["Event Created", "Event Updated"])
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}
    assert await events(redis) == [] and len(apis.calls) == 2  # 50 + 10: the event two years ahead is not there
    first = apis.calls[0]
    assert first.path == "/me/calendarView/delta" and first.headers["prefer"] == "odata.maxpagesize=50"
    assert (first.query["startDateTime"], first.query["endDateTime"]) == (
        "2025-12-31T00:01:00Z",
        "2027-01-01T00:01:00Z",
    )

    log = apis.graph_logs["calendar"]
    log.append(calendar_event(100, 70, 75))  # new since the last poll, changed moments after it was created
    log.append(calendar_event(3, old, 80))  # an old event, moved
    log.append({"id": "AAMkE-4", "@removed": {"reason": "deleted"}})  # no trigger for it
    assert await tick(poller, clock) == {"polled": 1}  # one poll for both triggers
    assert apis.calls[-1].query == {"$deltatoken": "61~2025-12-31T00:01:00Z,2027-01-01T00:01:00Z"}
    stored = await events(redis)
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in stored] == [
        ("event.created", "AAMkE-100"),
        ("event.updated", "AAMkE-3"),
    ]
    assert stored[0]["delivery_id"] == f"poll:outlook:events:AAMkE-100:{graph_time(75)}"

    log.append(calendar_event(100, 70, 150))  # changed again: created before the newest time read (00:01:20)
    # Graph's clock runs behind the worker's: stamped 00:01:40, the event appears after the 00:02:00 poll. Created
    # after everything read before, in Graph's clock: new, whatever the worker's clock said.
    log.append(calendar_event(101, 100, 100))
    assert await tick(poller, clock) == {"polled": 1}
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)][2:] == [
        ("event.updated", "AAMkE-100"),
        ("event.created", "AAMkE-101"),
    ]
    assert await tick(poller, clock) == {"polled": 1} and len(await events(redis)) == 4


async def test_outlook_events_open_a_new_window_after_30_days_without_firing_history(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.graph_logs["calendar"] = [calendar_event(n, -86_400, -86_400) for n in range(3)]
    await seed_polled(seed, apis, "outlook", ["Event Updated"])
    await poller.run_once()
    await tick(poller, clock)
    month = 30 * 86_400.0
    apis.graph_logs["calendar"].append(calendar_event(1, -86_400, month))  # changed in the last minute of the round
    assert await tick(poller, clock, month) == {"polled": 1}
    read, opened = apis.calls[-2:]
    assert read.query["$deltatoken"].startswith("3~")  # the old round read to its end first
    assert opened.query["startDateTime"] == "2026-01-30T00:01:00Z"  # then a new one from now, a day back
    assert opened.query["endDateTime"] == "2027-01-31T00:01:00Z"
    assert [json.loads(e["body"])["id"] for e in await events(redis)] == ["AAMkE-1"]
    apis.graph_logs["calendar"].append(calendar_event(2, -86_400, month + 90))  # before the new range: not in it
    apis.graph_logs["calendar"].append(calendar_event(7, -86_400, month + 95, starts="2026-11-30T10:00:00"))
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["$deltatoken"] == "4~2026-01-30T00:01:00Z,2027-01-31T00:01:00Z"
    assert [json.loads(e["body"])["id"] for e in await events(redis)] == ["AAMkE-1", "AAMkE-7"]


# -- SharePoint: Microsoft Graph list item and drive deltas ----------------------------------------------------------

SITE = {"access_token": "tok", "site_id": "site-1", "list_id": "list-1"}


def list_item(n: int, created: float, modified: float) -> dict[str, Any]:
    return {
        "id": str(n),
        "createdDateTime": graph_time(created),
        "lastModifiedDateTime": graph_time(modified),
        "fields": {"Title": f"item {n}"},
    }


async def test_sharepoint_items_start_from_the_latest_token_then_fire_created_and_updated(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.graph_logs["items:site-1:list-1"] = [list_item(n, -86_400, -86_400) for n in range(5)]
    await seed_polled(seed, apis, "sharepoint", ["Item Created", "Item Updated"], values=SITE)
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}
    [first] = apis.calls  # no history read: a delta link from now
    assert first.path == "/sites/site-1/lists/list-1/items/delta"
    assert (first.query["token"], first.query["$expand"]) == ("latest", "fields")
    log = apis.graph_logs["items:site-1:list-1"]
    log += [list_item(9, 70, 72), list_item(2, -86_400, 80), {"id": "3", "deleted": {"state": "deleted"}}]
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query == {"$deltatoken": "5~"}
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)] == [
        ("item.created", "9"),
        ("item.updated", "2"),
    ]


async def test_sharepoint_trigger_params_name_the_site_and_list_and_pages_are_the_site_pages_list(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "sharepoint", ["Page Modified"], params={"siteId": "site-2"}, values=SITE)
    await poller.run_once()
    await tick(poller, clock)
    assert apis.calls[0].path == "/sites/site-2/lists/Site Pages/items/delta"
    apis.graph_logs["items:site-2:Site Pages"] = [list_item(1, 70, 70), list_item(2, -86_400, 75)]
    assert await tick(poller, clock) == {"polled": 1}
    stored = await events(redis)
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in stored] == [
        ("page.updated", "1"),
        ("page.updated", "2"),
    ]
    assert stored[0]["delivery_id"].startswith("poll:sharepoint:pages?siteId=site-2:1:")


async def test_sharepoint_deleted_drive_items_fire_file_deleted_and_a_site_is_required(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "sharepoint", ["File Deleted"], values=SITE)
    await poller.run_once()
    await tick(poller, clock)
    apis.graph_logs["drive:site-1"] = [
        {"id": "01A", "name": "a.docx", "file": {}, "lastModifiedDateTime": graph_time(70)},  # changed: not deleted
        {"id": "01B", "deleted": {"state": "deleted"}},
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].path == "/sites/site-1/drive/root/delta"
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)] == [("file.deleted", "01B")]


async def test_sharepoint_without_a_site_fails_without_calling_graph(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "sharepoint", ["Item Created"])  # no site_id, no trigger_params
    await poller.run_once()
    assert await tick(poller, clock) == {"failed": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert (await PollStates(redis, KEYS).load(member)).error == "template" and apis.calls == []


# -- Microsoft Teams: channel and chat lists -------------------------------------------------------------------------


async def test_teams_channels_created_since_the_cursor_across_pages(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.channels["team-1"] = [
        {"id": f"19:old-{n}@thread.tacv2", "displayName": f"old {n}", "createdDateTime": graph_time(-86_400)}
        for n in range(70)
    ]
    await seed_polled(seed, apis, "microsoft-teams", ["Channel Created"], params={"teamId": "team-1"})
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1} and apis.calls == []  # the cursor starts now
    apis.channels["team-1"].insert(10, {"id": "19:new@thread.tacv2", "createdDateTime": graph_time(70)})
    assert await tick(poller, clock) == {"polled": 1}
    assert [c.query.get("$skiptoken") for c in apis.calls] == [None, "50"]  # no order: every page is read
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)] == [
        ("channel.created", "19:new@thread.tacv2")
    ]
    assert await tick(poller, clock) == {"polled": 1} and len(await events(redis)) == 1


async def test_teams_chats_created_and_updated(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    def chat(name: str, created: float, updated: float) -> dict[str, Any]:
        return {"id": f"19:{name}@thread.v2", "topic": name, "chatType": "group",
                "createdDateTime": graph_time(created), "lastUpdatedDateTime": graph_time(updated)}  # fmt: skip

    apis.chats = [chat("quiet", -86_400, -86_400), chat("renamed", -86_400, -86_400)]
    await seed_polled(seed, apis, "microsoft-teams", ["Chat Created", "Chat Updated"])
    await poller.run_once()
    await tick(poller, clock)
    apis.chats[1] = chat("renamed", -86_400, 80)
    apis.chats.insert(0, chat("new", 70, 74))  # members added moments after it was created
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query == {"$top": "50"}
    assert [(e["event_type"], json.loads(e["body"])["topic"]) for e in await events(redis)] == [
        ("chat.created", "new"),
        ("chat.updated", "renamed"),
    ]
    apis.chats[0] = chat("new", 70, 130)  # renamed after the poll that found it
    assert await tick(poller, clock) == {"polled": 1}
    assert [e["event_type"] for e in await events(redis)][2:] == ["chat.updated"]


# -- Dynamics 365 CRM: Dataverse Web API -----------------------------------------------------------------------------


def contact(n: int, created: str, modified: str) -> dict[str, Any]:
    return {"@odata.etag": f'W/"{1000 + n}"', "contactid": f"00000000-0000-0000-0000-{n:012}",
            "fullname": f"contact {n}", "createdon": created, "modifiedon": modified}  # fmt: skip


async def test_dynamics_rows_modified_since_the_cursor_page_by_next_links(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.dataverse["contacts"] = [contact(0, "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z")]
    params = {"entitySet": "contacts", "idField": "contactid"}
    await seed_polled(seed, apis, "microsoft-dynamics-365", ["*"], params=params)
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1} and apis.calls == []
    apis.dataverse["contacts"] += [
        contact(n, "2026-01-01T00:01:10Z", f"2026-01-01T00:01:{10 + n // 10:02}Z") for n in range(1, 250)
    ]
    apis.dataverse["contacts"].append(contact(999, "2025-01-01T00:00:00Z", "2026-01-01T00:01:05Z"))
    assert await tick(poller, clock) == {"polled": 1}
    assert len(apis.calls) == 3  # 100 + 100 + 50 through the next links
    first = apis.calls[0]
    assert (first.path, first.query["$filter"]) == ("/api/data/v9.2/contacts", "modifiedon ge 2026-01-01T00:01:00Z")
    assert first.headers["prefer"] == "odata.maxpagesize=100" and first.headers["authorization"] == "Bearer tok"
    stored = await events(redis)
    kinds = {json.loads(e["body"])["contactid"][-3:]: e["event_type"] for e in stored}
    assert len(stored) == 250 and kinds.pop("999") == "record.updated" and set(kinds.values()) == {"record.created"}
    assert stored[0]["delivery_id"] == (
        "poll:microsoft-dynamics-365:rows?entitySet=contacts&idField=contactid:"
        "00000000-0000-0000-0000-000000000999:2026-01-01T00:01:05Z"
    )
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["$filter"] == "modifiedon ge 2026-01-01T00:01:34Z"  # the newest read, asked again
    assert len(await events(redis)) == 250


async def test_dynamics_without_an_organization_url_fails_and_calls_nothing() -> None:
    spec = SPECS["microsoft-dynamics-365"]["*"]
    target = Polled(
        Credential(id="c", project="p", user="u", integration="i", values={"access_token": SecretStr("t")}),
        Integration(id="i", project="p", type="microsoft-dynamics-365"),
        spec,
    )
    calls: list[httpx.Request] = []

    def reply(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json={"value": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
        with pytest.raises(PollFailed) as failed:
            await Fetch(client, target, clock=lambda: T0).run(PollState(cursor="2026-01-01T00:00:00+00:00"))
    assert (failed.value.reason, failed.value.retryable, calls) == ("invalid_url", False, [])


# -- Dropbox: list_folder cursors, created and updated told apart by the paths the pair has read -------------------


def dbx_file(path: str, rev: str) -> dict[str, Any]:
    name = path.rsplit("/", 1)[-1]
    return {".tag": "file", "name": name, "id": f"id:{name}", "path_lower": path.lower(), "path_display": path,
            "rev": rev, "size": 10, "server_modified": "2026-01-01T00:01:10Z"}  # fmt: skip


def dbx_deleted(path: str) -> dict[str, Any]:
    return {".tag": "deleted", "name": path.rsplit("/", 1)[-1], "path_lower": path.lower(), "path_display": path}


def kinds_of(stored: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(e["event_type"], json.loads(e["body"])["path_display"]) for e in stored]


async def test_dropbox_lists_silently_then_fires_created_updated_and_deleted_by_path(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.dropbox_page_size = 2
    apis.dropbox_log = [dbx_file("/A.txt", "a1"), dbx_file("/b.txt", "b1"), dbx_file("/docs/c.txt", "c1")]
    await seed_polled(seed, apis, "dropbox", ["File Created", "File Updated", "File Deleted"])
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}
    assert [c.path for c in apis.calls] == ["/2/files/list_folder", "/2/files/list_folder/continue"]  # 2 + 1
    assert json.loads(apis.calls[0].body) == {"path": "", "recursive": True, "include_deleted": False, "limit": 2000}
    assert json.loads(apis.calls[1].body) == {"cursor": "all.2"} and await events(redis) == []
    [member] = await PollStates(redis, KEYS).scheduled()
    assert await redis.scard(KEYS.poll_seen(member)) == 3

    apis.dropbox_log += [
        dbx_file("/new.txt", "n1"),
        dbx_file("/A.txt", "a2"),
        dbx_deleted("/b.txt"),
        {".tag": "folder", "name": "more", "id": "id:more", "path_lower": "/more", "path_display": "/more"},
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert [json.loads(c.body) for c in apis.calls[2:]] == [{"cursor": "3.0"}, {"cursor": "3.2"}]  # has_more: on
    assert kinds_of(await events(redis)) == [
        ("file.created", "/new.txt"),
        ("file.updated", "/A.txt"),
        ("file.deleted", "/b.txt"),
    ]
    assert (await events(redis))[1]["delivery_id"] == "poll:dropbox:files:/a.txt:a2"

    apis.dropbox_log += [dbx_file("/b.txt", "b2")]  # a file again at a deleted path: new
    assert await tick(poller, clock) == {"polled": 1}
    apis.dropbox_log += [dbx_deleted("/b.txt")]  # and deleted again: a second deletion, not a repeat
    assert await tick(poller, clock) == {"polled": 1}
    assert kinds_of(await events(redis))[3:] == [("file.created", "/b.txt"), ("file.deleted", "/b.txt")]
    assert await redis.scard(KEYS.poll_seen(member)) == 3  # a.txt, c.txt, new.txt


async def test_dropbox_a_poll_read_again_after_a_crash_stores_nothing_twice(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "dropbox", ["File Created"])
    await poller.run_once()
    await tick(poller, clock)
    states = PollStates(redis, KEYS)
    [member] = await states.scheduled()
    before = await states.load(member)
    apis.dropbox_log += [dbx_file("/new.txt", "n1")]
    assert await tick(poller, clock) == {"polled": 1}
    # The worker died after storing the records and keeping their paths, before the cursor moved.
    await states.save(member, before, clock.now)
    assert await tick(poller, clock, 0) == {"polled": 1}
    assert json.loads(apis.calls[-1].body) == {"cursor": before.cursor}  # the same changes, read again
    stored = await events(redis)
    assert kinds_of(stored) == [("file.created", "/new.txt")]  # now a known path, but the same delivery id
    assert int(await redis.hget(KEYS.duplicates, "app") or 0) == 1


async def test_dropbox_a_reset_cursor_lists_again_without_firing(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.dropbox_log = [dbx_file("/a.txt", "a1")]
    await seed_polled(seed, apis, "dropbox", ["File Created", "File Updated"], params={"path": "/Team"})
    await poller.run_once()
    await tick(poller, clock)
    assert json.loads(apis.calls[0].body)["path"] == "/Team"
    apis.reset_cursors.add("1.0")
    apis.dropbox_log += [dbx_file("/b.txt", "b1")]
    assert await tick(poller, clock) == {"polled": 1}  # 409 reset: the cursor is dropped, nothing fires
    assert await tick(poller, clock) == {"established": 1}  # a new listing: a.txt and b.txt, silently
    apis.dropbox_log += [dbx_file("/b.txt", "b2"), dbx_file("/c.txt", "c1")]
    assert await tick(poller, clock) == {"polled": 1}
    assert kinds_of(await events(redis)) == [("file.updated", "/b.txt"), ("file.created", "/c.txt")]


def test_dropbox_and_dynamics_tokens_are_refreshed_at_their_providers_endpoints() -> None:
    cred = Credential(
        id="c", project="p", user="u", integration="i",
        values={"access_token": SecretStr("t"), "refresh_token": SecretStr("r")},
    )  # fmt: skip
    for kind, url in (
        ("dropbox", "https://api.dropboxapi.com/oauth2/token"),
        ("microsoft-dynamics-365", "https://login.microsoftonline.com/common/oauth2/v2.0/token"),
    ):
        integration = Integration(id="i", project="p", type=kind, options=IntegrationOptions(client_id="app"))
        request = refresh_request(integration, cred)
        assert request is not None and request.url == url
        assert b"grant_type=refresh_token" in request.body and b"refresh_token=r" in request.body


async def test_dynamics_created_is_read_against_the_cursor_in_dataverses_clock_not_the_workers(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_polled(seed, apis, "microsoft-dynamics-365", ["event:record.created"])
    await poller.run_once()
    await tick(poller, clock)  # 00:01:00
    apis.dataverse["accounts"] = [
        {"accountid": "a-1", "createdon": "2026-01-01T00:01:05Z", "modifiedon": "2026-01-01T00:01:05Z"}
    ]
    assert await tick(poller, clock) == {"polled": 1}  # 00:02:00; the cursor: 00:01:05, Dataverse's newest
    # Dataverse's clock runs 30 s behind the worker's: a row it stamps 00:01:40 appears after the 00:02:00 poll.
    apis.dataverse["accounts"].append(
        {"accountid": "a-2", "createdon": "2026-01-01T00:01:40Z", "modifiedon": "2026-01-01T00:01:42Z"}
    )
    apis.fail(429, **{"retry-after": "45"})  # throttled first: asked again no sooner than Retry-After
    assert await tick(poller, clock) == {"retry": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert await PollStates(redis, KEYS).next_at(member) == pytest.approx(clock.now + 45)
    assert await tick(poller, clock, 45) == {"polled": 1}
    assert [(json.loads(e["body"])["accountid"], e["event_type"]) for e in await events(redis)] == [
        ("a-1", "record.created"),
        ("a-2", "record.created"),
    ]
    rows = apis.dataverse["accounts"]
    rows.append({"accountid": "a-3", "createdon": "2026-01-01T00:03:50Z", "modifiedon": "2026-01-01T00:03:50Z"})
    assert await tick(poller, clock) == {"polled": 1}  # the cursor: 00:03:50, a-3's creation
    rows[2] = {**rows[2], "modifiedon": "2026-01-01T00:04:30Z"}  # edited after the poll that found it
    assert await tick(poller, clock) == {"polled": 1}
    assert [(json.loads(e["body"])["accountid"], e["event_type"]) for e in await events(redis)][2:] == [
        ("a-3", "record.created"),
        ("a-3", "record.updated"),
    ]


# -- more_path: one meaning for every token cursor (Marketo's moreResult, Dropbox's has_more) ----------------------


@pytest.mark.parametrize("flag", [False, "true", 1, None])
async def test_more_path_pages_on_only_while_the_member_is_json_true(flag: Any) -> None:
    def get(url: str) -> RequestTemplate:
        return RequestTemplate(method="GET", url=url)

    spec = PollSpec(
        key="api:changes",
        cursor="token",
        init=get("{{api.base}}/list"),
        init_page=get("{{api.base}}/list?page={{poll.page}}"),
        request=get("{{api.base}}/changes?token={{poll.cursor}}"),
        page=get("{{api.base}}/changes?token={{poll.page}}"),
        records_path="items",
        cursor_path="token",
        next_page_path="token",  # on every page, the last one included
        more_path="paging.more",
        events=(EventRule(event_type="item.changed"),),
        base_url="https://api.example.com",
    )
    target = Polled(
        Credential(id="c", project="p", user="u", integration="i", values={}),
        Integration(id="i", project="p", type="custom.example"),
        spec,
    )
    asked: list[str] = []

    def reply(request: httpx.Request) -> httpx.Response:
        asked.append(f"{request.url.path}?{request.url.query.decode()}")
        n = len(asked)
        more = True if n in (1, 4) else flag  # a first round's first page and the second poll's say more
        return httpx.Response(200, json={"items": [{"id": str(n)}], "token": f"t{n}", "paging": {"more": more}})

    state = PollState()
    async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
        assert await Fetch(client, target, clock=lambda: T0).run(state) == []  # the first round: no events
        assert (asked, state.cursor) == (["/list?", "/list?page=t1"], "t2")  # its second page: the last
        found = await Fetch(client, target, clock=lambda: T0).run(state)
        assert (asked[2:], state.cursor) == (["/changes?token=t2"], "t3")  # a page not saying more: the last
        assert [f.event_type for f in found] == ["item.changed"]
        await Fetch(client, target, clock=lambda: T0).run(state)
    assert (asked[3:], state.cursor) == (["/changes?token=t3", "/changes?token=t4"], "t5")
