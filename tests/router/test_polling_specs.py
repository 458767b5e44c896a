"""Polls of Xero, Pardot, Marketo, Jira's comments and projects, Lever's postings, and the page-through of a bulk
change within one second (Zoho, Outreach), against loopback provider APIs (tests/router/fake_apis.py) and a real
Redis; which triggers an integration's own webhooks serve instead."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from redis.asyncio import Redis

from router.polling.fetch import Fetch, PollFailed
from router.polling.poller import Poller
from router.polling.state import PollState, PollStates
from subscriptions.models import Credential, Integration
from subscriptions.polling import SPECS, Polled, desired_polls
from subscriptions.polling.spec import ms_date
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache
from tests.clock import Clock
from tests.router.conftest import Seed
from tests.router.fake_apis import FakeApis
from tests.router.test_polling import KEYS, T0, events, make_poller, tick
from tests.subscriptions.fake_provider import serve_in_thread

pytestmark = pytest.mark.anyio
MS = int(T0 * 1000)


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


@pytest.fixture
def poller(redis: Redis, registry: Registry, http: httpx.AsyncClient, clock: Clock) -> Poller:
    return make_poller(redis, registry, http, clock)


async def seed_with(
    seed: Seed,
    apis: FakeApis,
    kind: str,
    triggers: list[str],
    *,
    values: dict[str, str] | None = None,
    provider_id: str | None = None,
    base: str = "",
    secrets: list[str] | None = None,
    app_client: bool = True,
) -> None:
    options = {"api_base_url": apis.base + base}
    if app_client:
        options |= {"client_id": "client-1", "client_secret": "client-secret-1"}
    await seed(
        integration=[{"id": "app", "type": kind, "options": options, "secrets": secrets or []}],
        user=[{"id": "u1"}],
        credential=[
            {
                "id": "cred-1",
                "user": "u1",
                "integration": "app",
                "provider_id": provider_id,
                "values": {"access_token": "tok", **(values or {})},
            }
        ],
        workflow=[{"id": f"wf-{n}", "integration": "app", "trigger": t} for n, t in enumerate(triggers)],
        activate=[(f"wf-{n}", "u1") for n in range(len(triggers))],
    )


async def established(poller: Poller, clock: Clock) -> None:
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 1}  # the cursor: 2026-01-01T00:01:00Z


def bodies(stored: list[dict[str, str]], key: str = "id") -> list[Any]:
    return [json.loads(e["body"])[key] for e in stored]


async def duplicates(redis: Redis) -> int:
    return int(await redis.hget(KEYS.duplicates, "app") or 0)


# -- Xero: If-Modified-Since, /Date(ms)/ times, page numbers ---------------------------------------------------------


def xero_date(seconds: float, ms: int = 0) -> str:
    return f"/Date({int((T0 + seconds) * 1000) + ms}+0000)/"


def invoice(n: int, at: str) -> dict[str, Any]:
    return {"InvoiceID": f"inv-{n:05}", "Type": "ACCREC", "InvoiceNumber": f"INV-{n}", "UpdatedDateUTC": at}


async def test_xero_invoices_fire_once_each_and_a_bulk_change_in_one_second_is_read_page_by_page(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "xero", ["New Invoice"], provider_id="tenant-1")
    await established(poller, clock)
    apis.xero["Invoices"] = [invoice(0, xero_date(-86_400))]  # untouched since yesterday: never read
    apis.xero["Invoices"] += [invoice(n, xero_date(90, n % 1000)) for n in range(1, 1501)]  # 1500 within 00:01:30
    assert await tick(poller, clock) == {"polled": 1}
    first, second = apis.calls
    assert first.headers["if-modified-since"] == "2026-01-01T00:01:00"  # UTC, as Xero takes it
    assert first.headers["xero-tenant-id"] == "tenant-1" and first.headers["authorization"] == "Bearer tok"
    assert (first.query.get("page"), second.query["page"]) == (None, "2")  # the next page of the same query
    assert first.query["order"] == "UpdatedDateUTC ASC" and first.query["pageSize"] == "1000"
    stored = await events(redis)
    assert sorted(bodies(stored, "InvoiceID")) == [f"inv-{n:05}" for n in range(1, 1501)]
    assert {e["event_type"] for e in stored} == {"invoice.created"}
    assert "poll:xero:invoices:inv-00001:first" in {e["delivery_id"] for e in stored}

    # The next poll asks from the second of the newest change (Xero takes seconds): that second's records come again
    # and those before the newest millisecond read are skipped; the newest one and an invoice changed since are
    # read, and neither is new (each fired the first time it was read).
    apis.xero["Invoices"][5] = invoice(5, xero_date(100))
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-2].headers["if-modified-since"] == "2026-01-01T00:01:30"
    assert len(await events(redis)) == 1500 and await duplicates(redis) == 2


async def test_xero_new_customer_fires_when_a_contact_first_reads_as_a_customer(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "xero", ["New Customer", "New Account"], provider_id="tenant-1")
    await poller.run_once()
    assert await tick(poller, clock) == {"established": 2}
    apis.xero["Contacts"] = [
        {"ContactID": "c-1", "Name": "Supplier Ltd", "IsCustomer": False, "UpdatedDateUTC": xero_date(70)},
        {"ContactID": "c-2", "Name": "Buyer Ltd", "IsCustomer": True, "UpdatedDateUTC": xero_date(75)},
    ]
    apis.xero["Accounts"] = [{"AccountID": "a-1", "Code": "200", "UpdatedDateUTC": xero_date(80)}]
    assert await tick(poller, clock) == {"polled": 2}
    assert sorted((e["event_type"], e["delivery_id"]) for e in await events(redis)) == [
        ("account.created", "poll:xero:accounts:a-1:first"),
        ("customer.created", "poll:xero:contacts:c-2:first"),
    ]
    apis.xero["Contacts"][0] = {**apis.xero["Contacts"][0], "IsCustomer": True, "UpdatedDateUTC": xero_date(130)}
    await tick(poller, clock)
    assert [e["delivery_id"] for e in await events(redis)][2:] == ["poll:xero:contacts:c-1:first"]


async def test_xero_times_in_any_other_form_are_no_times(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "xero", ["New Invoice"], provider_id="tenant-1")
    await established(poller, clock)
    apis.xero["Invoices"] = [
        invoice(1, xero_date(70)),
        invoice(2, "2026-01-01T00:01:11"),  # what a lenient reader would take for a time
        invoice(3, "/Date(1767225671000+00:00)/"),
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert bodies(await events(redis), "InvoiceID") == ["inv-00001"]
    assert apis.calls[-1].headers["if-modified-since"] == "2026-01-01T00:01:00"
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].headers["if-modified-since"] == "2026-01-01T00:01:10"  # the cursor: invoice 1's only


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("/Date(1573755038314+0000)/", 1573755038.314),  # Xero's documented example
        ("/Date(1573755038314)/", 1573755038.314),
        ("/Date(1573755038314-0800)/", 1573755038.314),  # the offset names the zone; the count is UTC's
        ("/Date(0+0000)/", 0.0),
    ],
)
def test_ms_dates_read_as_unix_seconds(text: str, seconds: float) -> None:
    assert ms_date(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-01-01T00:00:00",
        "/Date(1573755038314+000)/",
        "/Date(1573755038314+2400)/",
        "/Date(1573755038314+0060)/",
        "/Date(1573755038314+0000)",
        "Date(1573755038314+0000)/",
        "/Date(15737550383141573755038314+0000)/",
        "/Date(999999999999999+0000)/",  # the year 33658: beyond a calendar, not a time to write into a request
        "/Date(1573755038314+0000)/ ",
        "/Date(１５７３７５５０３８３１４)/",  # full-width digits are digits to \d, not to Xero
    ],
)
def test_anything_but_a_ms_date_is_no_time(text: str) -> None:
    assert ms_date(text) is None


@given(st.text(max_size=40))
def test_ms_date_reads_only_its_own_form(text: str) -> None:
    value = ms_date(text)
    assert value is None or (text.startswith("/Date(") and text.endswith(")/") and text.isascii())


# -- Pardot: createdAt at or after the cursor, every page through nextPageUrl ----------------------------------------


def prospect(n: int, created: str) -> dict[str, Any]:
    return {"id": n, "email": f"p{n}@example.com", "createdAt": created, "updatedAt": created}


async def test_pardot_prospects_created_are_read_through_next_page_urls_past_a_bulk_import_in_one_second(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "pardot", ["Prospect Created"], values={"business_unit_id": "0Uv000000000001"})
    await established(poller, clock)
    apis.pardot["prospects"] = [prospect(1, "2025-12-31T15:00:00-08:00")]  # before the cursor: never read
    apis.pardot["prospects"] += [prospect(n, "2025-12-31T16:01:30-08:00") for n in range(2, 2502)]  # one second
    assert await tick(poller, clock) == {"polled": 1}
    first, *pages = apis.calls
    assert first.query["createdAtAfterOrEqualTo"] == "2026-01-01T00:01:00+00:00"
    assert first.headers["pardot-business-unit-id"] == "0Uv000000000001"
    assert [set(c.query) for c in pages] == [{"nextPageToken"}, {"nextPageToken"}]  # the token alone, as required
    stored = await events(redis)
    assert sorted(bodies(stored)) == list(range(2, 2502)) and {e["event_type"] for e in stored} == {"prospect.created"}
    assert await tick(poller, clock) == {"polled": 1}  # from that second again: each stored once
    assert apis.calls[-3].query["createdAtAfterOrEqualTo"] == "2025-12-31T16:01:30-08:00"
    assert len(await events(redis)) == 2500 and await duplicates(redis) == 2500


async def test_pardot_list_memberships_and_a_next_page_url_elsewhere_is_not_followed(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "pardot", ["List Membership Created"], values={"business_unit_id": "0Uv000000000001"})
    await established(poller, clock)
    apis.pardot["list-memberships"] = [
        {"id": 70 + n, "listId": 9, "prospectId": n, "optedOut": False, "createdAt": "2026-01-01T00:01:20+00:00"}
        for n in range(3)
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert [(e["event_type"], json.loads(e["body"])["prospectId"]) for e in await events(redis)] == [
        ("list_membership.created", 0),
        ("list_membership.created", 1),
        ("list_membership.created", 2),
    ]
    apis.pardot["list-memberships"] += [
        {"id": 100 + n, "listId": 9, "prospectId": n, "createdAt": "2026-01-01T00:02:20+00:00"} for n in range(1000)
    ]
    apis.link_base = "http://pardot.attacker.example"  # the token must not go there
    assert await tick(poller, clock) == {"failed": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert (await PollStates(redis, KEYS).load(member)).error == "foreign_link"


# -- Marketo: a paging token from now, Add to List activities while moreResult -----------------------------------------


def activity(n: int, type_id: int, at: str) -> dict[str, Any]:
    return {
        "id": n,
        "marketoGUID": str(n),
        "leadId": 1000 + n,
        "activityDate": at,
        "activityTypeId": type_id,
        "primaryAttributeValueId": 42,
        "primaryAttributeValue": "Newsletter",
    }


async def test_marketo_lists_additions_from_a_paging_token_page_after_page(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    apis.marketo = [activity(n, 24, "2025-12-01T00:00:00Z") for n in range(5)]  # history: never fired
    await seed_with(seed, apis, "marketo", ["Lead Added to a List"], base="/rest")
    await established(poller, clock)
    [token_call] = apis.calls
    assert token_call.path == "/rest/v1/activities/pagingtoken.json"
    assert token_call.query["sinceDatetime"] == "2026-01-01T00:01:00Z"
    apis.marketo += [activity(5 + n, 24 if n % 3 else 1, f"2026-01-01T00:01:{n % 60:02}Z") for n in range(700)]
    assert await tick(poller, clock) == {"polled": 1}
    reads = apis.calls[1:]
    assert [c.query["nextPageToken"] for c in reads] == ["P5", "P455"]  # 300 additions a page, then the rest
    assert {c.query["activityTypeIds"] for c in reads} == {"24"}
    stored = await events(redis)
    assert len(stored) == len([n for n in range(700) if n % 3]) and {e["event_type"] for e in stored} == {
        "list_membership.created"
    }
    assert stored[0]["delivery_id"] == "poll:marketo:list-additions:6:2026-01-01T00:01:01Z"
    apis.marketo.append(activity(9000, 24, "2026-01-01T00:03:00Z"))
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["nextPageToken"] == "P705"  # where the last page ended
    assert bodies(await events(redis))[-1] == 9000


async def test_marketo_errors_answered_with_200_fail_the_poll_as_their_codes_say(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "marketo", ["Lead Added to a List"], base="/rest")
    await established(poller, clock)
    apis.marketo = [activity(1, 24, "2026-01-01T00:01:30Z")]
    states = PollStates(redis, KEYS)
    [member] = await states.scheduled()
    apis.marketo_errors.append("606")  # rate limit: backed off, the token kept
    assert await tick(poller, clock) == {"retry": 1}
    assert (await states.load(member)).error == "provider_606" and await events(redis) == []
    assert await tick(poller, clock, 30) == {"polled": 1}
    assert bodies(await events(redis)) == [1]
    apis.marketo_errors.append("602")  # the access token expired, and the credential has no refresh token
    assert await tick(poller, clock) == {"failed": 1}
    assert (await states.load(member)).error == "http_401"


async def test_marketo_asks_for_a_new_token_with_the_users_client_credentials_when_its_token_expires(
    redis: Redis, seed: Seed, registry: Registry, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    client = {"client_id": "mk-client", "client_secret": "mk-secret", "identity_url": apis.base + "/identity"}
    await seed_with(seed, apis, "marketo", ["Lead Added to a List"], base="/rest", values=client, app_client=False)
    await established(poller, clock)
    apis.marketo = [activity(1, 24, "2026-01-01T00:01:30Z")]
    apis.marketo_errors.append("602")  # Marketo's "Access token expired", with HTTP 200
    assert await tick(poller, clock) == {"polled": 1}
    expired, grant, again = apis.calls[1:]
    assert grant.path == "/identity/oauth/token" and again.headers["authorization"] == "Bearer mk-token-1"
    form = dict(pair.split("=") for pair in grant.body.decode().split("&"))
    assert form == {"grant_type": "client_credentials", "client_id": "mk-client", "client_secret": "mk-secret"}
    assert bodies(await events(redis)) == [1]
    cred = await registry.get("credential", "cred-1")
    assert isinstance(cred, Credential)
    assert cred.values["access_token"].get_secret_value() == "mk-token-1"
    assert cred.values["expires_at"].get_secret_value() == str(int(clock.now) + 3599)

    # Refused for good (the user's client secret was revoked): INVALID, polled no more.
    await seed_with(
        seed, apis, "marketo", ["Lead Added to a List"], base="/rest", values={**client, "client_secret": "old"},
        app_client=False,
    )  # fmt: skip
    apis.marketo_errors.append("601")
    assert await tick(poller, clock) == {"failed": 1}
    cred = await registry.get("credential", "cred-1")
    assert isinstance(cred, Credential) and cred.status == "INVALID"


async def test_marketo_without_its_endpoint_sends_its_token_nowhere(
    redis: Redis, seed: Seed, registry: Registry, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed(
        integration=[{"id": "app", "type": "marketo"}],  # no api_base_url, and the credential names no endpoint_url
        user=[{"id": "u1"}],
        credential=[{"id": "cred-1", "user": "u1", "integration": "app", "values": {"access_token": "tok"}}],
        workflow=[{"id": "wf-0", "integration": "app", "trigger": "Lead Added to a List"}],
        activate=[("wf-0", "u1")],
    )
    await poller.run_once()
    assert await tick(poller, clock) == {"failed": 1}
    [member] = await PollStates(redis, KEYS).scheduled()
    assert (await PollStates(redis, KEYS).load(member)).error == "invalid_url"


# -- Jira: comments through the issue search, projects through the audit log ------------------------------------------


def comment(n: int, created: str, updated: str) -> dict[str, Any]:
    return {"id": str(20_000 + n), "body": f"comment {n}", "created": created, "updated": updated}


def issue_with(n: int, updated: str, comments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(10_000 + n),
        "key": f"PROJ-{n}",
        "fields": {
            "summary": f"issue {n}",
            "created": "2025-06-01T00:00:00.000+0000",
            "updated": updated,
            "comment": {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0},
        },
    }


JIRA = {"cloud_id": "cloud-1"}


async def test_jira_new_comments_fire_with_their_issue_and_old_ones_never(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "jira", ["New Comment"], values=JIRA)
    await poller.run_once()
    apis.now = clock.now + 60
    await tick(poller, clock)
    old = comment(1, "2025-07-01T00:00:00.000+0000", "2025-07-01T00:00:00.000+0000")
    new = comment(2, "2026-01-01T00:01:20.000+0000", "2026-01-01T00:01:20.000+0000")
    edited = comment(3, "2025-07-02T00:00:00.000+0000", "2026-01-01T00:01:30.000+0000")
    apis.issues = [issue_with(1, "2026-01-01T00:01:30.000+0000", [old, new, edited])]
    apis.now = clock.now + 60
    assert await tick(poller, clock) == {"polled": 1}
    assert "comment" in apis.calls[-1].query["fields"].split(",")
    stored = await events(redis)
    assert [(e["event_type"], json.loads(e["body"])["comment"]["id"]) for e in stored] == [
        ("comment.created", "20002"),
        ("comment.updated", "20003"),
    ]
    body = json.loads(stored[0]["body"])
    assert body["issue"]["key"] == "PROJ-1" and "comments" not in body["issue"]["fields"]["comment"]
    assert stored[0]["delivery_id"] == "poll:jira:comments:20002:2026-01-01T00:01:20.000+0000"
    apis.now = clock.now + 60
    assert await tick(poller, clock) == {"polled": 1}  # the overlap minute again: nothing stored twice
    assert len(await events(redis)) == 2


def audit(n: int, summary: str, created: str) -> dict[str, Any]:
    return {
        "id": n,
        "summary": summary,
        "category": "projects",
        "created": created,
        "objectItem": {"id": str(10_000 + n), "name": f"Project {n}", "typeName": "PROJECT"},
    }


async def test_jira_projects_from_the_audit_log_past_a_full_page_of_one_second(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "jira", ["Project Created", "Project Updated"], values=JIRA)
    await established(poller, clock)
    apis.audit = [audit(1, "Project created", "2025-12-01T00:00:00.000+0000")]  # history
    apis.audit += [audit(n, "Project updated", "2026-01-01T00:01:30.000+0000") for n in range(2, 1202)]
    apis.audit += [
        audit(5000, "Project created", "2026-01-01T00:01:40.000+0000"),
        audit(5001, "User created", "2026-01-01T00:01:41.000+0000"),  # not a project's
    ]
    apis.audit[-1]["category"] = "user management: project roles"
    assert await tick(poller, clock) == {"polled": 1}
    assert [(c.query["from"], c.query.get("offset")) for c in apis.calls] == [
        ("2026-01-01T00:01:00Z", None),
        ("2026-01-01T00:01:00Z", "1000"),
    ]
    assert apis.calls[0].path == "/ex/jira/cloud-1/rest/api/3/auditing/record"
    kinds = [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)]
    assert kinds[0] == ("project.created", 5000) and len(kinds) == 1201
    assert {k for k, _ in kinds[1:]} == {"project.updated"}
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[-1].query["from"] == "2026-01-01T00:01:41Z" and len(await events(redis)) == 1201


# -- Lever postings ----------------------------------------------------------------------------------------------------


async def test_lever_postings_created_and_updated(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "lever", ["Posting Created", "Posting Updated"])
    await established(poller, clock)
    apis.postings = [
        {"id": "post-1", "text": "Engineer", "createdAt": MS + 70_000, "updatedAt": MS + 70_000},
        {"id": "post-2", "text": "Designer", "createdAt": MS - 86_400_000, "updatedAt": MS + 75_000},
        {"id": "post-3", "text": "Old", "createdAt": MS - 86_400_000, "updatedAt": MS - 86_400_000},
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert apis.calls[0].path == "/postings" and apis.calls[0].query["updated_at_start"] == str(MS + 60_000)
    assert [(e["event_type"], json.loads(e["body"])["id"]) for e in await events(redis)] == [
        ("posting.created", "post-1"),
        ("posting.updated", "post-2"),
    ]


# -- a bulk change within one second, read in full where the API pages -------------------------------------------------


async def test_zoho_pages_on_past_a_full_page_of_one_second(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "zohocrm", ["Record Updated"])
    await established(poller, clock)
    at = "2026-01-01T00:01:30+00:00"
    apis.zoho = [{"id": str(n), "Created_Time": "2025-01-01T00:00:00+00:00", "Modified_Time": at} for n in range(450)]
    assert await tick(poller, clock) == {"polled": 1}
    assert [c.query.get("page") for c in apis.calls] == [None, "2", "3"]
    assert {c.headers["if-modified-since"] for c in apis.calls} == {"2026-01-01T00:01:00+00:00"}
    assert sorted(int(i) for i in bodies(await events(redis))) == list(range(450))
    assert await tick(poller, clock) == {"polled": 1}  # the same second again: read, stored once, then over
    assert apis.calls[-1].headers["if-modified-since"] == at and len(await events(redis)) == 450


async def test_outreach_follows_next_links_past_a_full_page_of_one_second(
    redis: Redis, seed: Seed, apis: FakeApis, poller: Poller, clock: Clock
) -> None:
    await seed_with(seed, apis, "outreach", ["New Opportunity", "Opportunity Updated"])
    await established(poller, clock)
    at = "2026-01-01T00:01:30.000Z"
    apis.outreach["opportunities"] = [
        {"type": "opportunity", "id": n, "attributes": {"createdAt": at, "updatedAt": at}} for n in range(250)
    ]
    assert await tick(poller, clock) == {"polled": 1}
    assert [c.query.get("page[after]") for c in apis.calls] == [None, "100", "200"]
    stored = await events(redis)
    assert sorted(bodies(stored)) == list(range(250)) and {e["event_type"] for e in stored} == {"opportunity.created"}


# -- a provider's own webhooks or the poll, never both -----------------------------------------------------------------


async def test_triggers_an_integrations_own_webhooks_fire_are_not_polled_once_it_receives_them(
    seed: Seed, registry: Registry, apis: FakeApis
) -> None:
    jira_triggers = ["New Issue", "New Comment", "Project Created"]
    await seed_with(seed, apis, "jira", jira_triggers, values=JIRA)
    snapshot = await SnapshotCache(registry).refresh()
    assert sorted(p.spec.key for p in desired_polls(snapshot).values()) == [
        "jira:comments",
        "jira:issues",
        "jira:projects",
    ]
    await seed_with(seed, apis, "jira", jira_triggers, values=JIRA, secrets=["webhook-secret"])
    assert desired_polls(await SnapshotCache(registry).refresh()) == {}  # the webhooks fire them: polled, twice


@pytest.mark.parametrize(("kind", "trigger"), [("notion", "Page Created"), ("quickbooks", "New Customer")])
async def test_the_same_holds_for_the_other_integrations_whose_webhooks_fire_polled_triggers(
    seed: Seed, registry: Registry, apis: FakeApis, kind: str, trigger: str
) -> None:
    await seed_with(seed, apis, kind, [trigger], values={"realm_id": "realm-1"})
    assert len(desired_polls(await SnapshotCache(registry).refresh())) == 1
    await seed_with(seed, apis, kind, [trigger], values={"realm_id": "realm-1"}, secrets=["webhook-secret"])
    assert desired_polls(await SnapshotCache(registry).refresh()) == {}


async def test_lever_is_polled_whether_or_not_it_receives_webhooks(
    seed: Seed, registry: Registry, apis: FakeApis
) -> None:
    # Lever's webhooks carry other events than its polled triggers: nothing fires twice.
    await seed_with(seed, apis, "lever", ["Posting Created", "Candidate Created"], secrets=["webhook-secret"])
    polls = desired_polls(await SnapshotCache(registry).refresh())
    assert sorted(p.spec.key for p in polls.values()) == ["lever:opportunities", "lever:postings"]


# -- hostile answers ---------------------------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        "issues", "fields", "comment", "comments", "updated", "created", "id", "result", "moreResult",
        "nextPageToken", "errors", "code", "values", "nextPageUrl", "createdAt", "Invoices", "Contacts", "Accounts",
        "UpdatedDateUTC", "IsCustomer", "InvoiceID", "ContactID", "records", "summary", "marketoGUID",
        "activityTypeId", "activityDate", "updatedAt", "next", "data",
    ]
) | st.text(max_size=4)  # fmt: skip
_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_TIMES = st.sampled_from(
    ["/Date(1767225690000+0000)/", "/Date(1767225690000)/", "2026-01-01T00:01:30.000+0000", "24", "606", "601"]
)
_ANSWERS = st.recursive(
    _SCALARS | _TIMES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=6),
    max_leaves=30,
)
_CREDENTIAL = Credential(
    id="c",
    project="p",
    user="u",
    integration="i",
    provider_id="tenant-1",
    values={
        name: SecretStr(value)
        for name, value in {
            "access_token": "t",
            "cloud_id": "cloud-1",
            "business_unit_id": "0Uv000000000001",
            "endpoint_url": "https://123-abc-456.mktorest.com/rest",
        }.items()
    },
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=_ANSWERS)
async def test_any_answer_to_these_polls_gives_events_or_a_poll_failure(answer: Any) -> None:
    specs = [spec for kind in ("xero", "pardot", "marketo", "jira", "lever") for spec in SPECS[kind].values()]
    for spec in {id(s): s for s in specs}.values():
        for cursor in ("", "2026-01-01T00:00:00+00:00", "/Date(1767225600000+0000)/", "1767225600000", "P5"):

            def reply(request: httpx.Request, answer: Any = answer) -> httpx.Response:
                return httpx.Response(200, json=answer)

            target = Polled(_CREDENTIAL, Integration(id="i", project="p", type=spec.key.split(":")[0]), spec)
            async with httpx.AsyncClient(transport=httpx.MockTransport(reply)) as client:
                state = PollState(cursor=cursor)
                try:
                    found = await Fetch(client, target, clock=lambda: T0).run(state)
                except PollFailed as exc:
                    assert exc.reason
                else:
                    assert all(f.delivery_id.startswith(f"poll:{spec.key}:") for f in found)
                    assert all(isinstance(json.loads(f.body), dict) for f in found)
