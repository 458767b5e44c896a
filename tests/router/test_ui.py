"""The dashboard's sign-in, session cookie, CSRF checks and scopes, through the app (the browser walk is in
``test_ui_browser``)."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis.asyncio import Redis
from starlette.requests import Request

from router.settings import Settings
from router.ui import context, events, session
from subscriptions.api_keys import ApiKeys
from subscriptions.destinations import Destination
from subscriptions.keys import RegistryKeys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, SLACK_URL, TEAM, Seed, make_worker, running, seed_slack
from tests.router.test_ingest import post_slack, signed, slack_event
from tests.router.ui_support import csrf_of, sign_in

pytestmark = pytest.mark.anyio
XSS = "<script>alert(1)</script>"
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def _key(redis: Redis, *scopes: str) -> str:
    _, token = await ApiKeys(redis, RegistryKeys()).create("ui-test", scopes)
    return token


async def test_pages_redirect_to_sign_in_without_a_session(settings: Settings) -> None:
    async with running(settings) as http:
        for path in ("/ui/", "/ui/events", "/ui/deliveries", "/ui/integrations", "/ui/destinations", "/ui/replays"):
            answer = await http.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/ui/login")


async def test_sign_in_sets_a_sealed_httponly_strict_cookie(settings: Settings) -> None:
    async with running(settings) as http:
        form = await http.get("/ui/login")
        answer = await http.post("/ui/login", data={"key": ADMIN_TOKEN, "csrf": csrf_of(form.text)})
        assert answer.status_code == 303
        cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(session.COOKIE))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
        assert "Secure" not in cookie  # plain http here; https would add it
        assert ADMIN_TOKEN not in cookie  # sealed, not the key itself
        overview = await http.get("/ui/")
        assert overview.status_code == 200
        assert "admin-token" in overview.text
        assert overview.headers["content-security-policy"].startswith("default-src 'self'")


async def test_the_cookie_is_secure_over_tls(settings: Settings) -> None:
    async with running(settings) as http:
        form = await http.get("https://hooks.test/ui/login")
        answer = await http.post("https://hooks.test/ui/login", data={"key": ADMIN_TOKEN, "csrf": csrf_of(form.text)})
        cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith(session.COOKIE))
        assert "Secure" in cookie


async def test_a_wrong_key_is_refused_and_a_missing_csrf_token_is_403(settings: Settings) -> None:
    async with running(settings) as http:
        form = await http.get("/ui/login")
        wrong = await http.post("/ui/login", data={"key": "hrk_0000000000000000_nope", "csrf": csrf_of(form.text)})
        assert wrong.status_code == 401
        assert session.COOKIE not in wrong.cookies
        no_token = await http.post("/ui/login", data={"key": ADMIN_TOKEN})
        assert no_token.status_code == 403
        await sign_in(http, ADMIN_TOKEN)
        for path in ("/ui/replays", "/ui/deliveries/redrive", "/ui/destinations", "/ui/events/1-0/replay"):
            answer = await http.post(path, data={"mode": "reroute", "workflow": "wf-1"})
            assert answer.status_code == 403, path
            bad = await http.post(path, data={"mode": "reroute", "workflow": "wf-1", "csrf": "forged"})
            assert bad.status_code == 403, path


async def test_a_forged_or_expired_session_signs_out(settings: Settings) -> None:
    async with running(settings) as http:
        http.cookies.set(session.COOKIE, "hr2.AAAA.BBBB", domain="hooks.test", path="/ui")
        assert (await http.get("/ui/")).status_code == 303
        await sign_in(http, ADMIN_TOKEN)
        sealed = http.cookies.get(session.COOKIE)
        assert sealed
    async with running(settings) as http:  # a new process opens a session sealed by another with the same key
        http.cookies.set(session.COOKIE, sealed, domain="hooks.test", path="/ui")
        assert (await http.get("/ui/")).status_code == 200


async def test_a_session_ends_at_its_expiry_and_names_only_its_own_key(registry: Registry) -> None:
    def request(cookie: str = "") -> Request:
        headers = [(b"cookie", f"{session.COOKIE}={cookie}".encode())] if cookie else []
        return Request({"type": "http", "headers": headers, "state": {"registry": registry}})

    started, sealed = session.start(request(), "hrk_0123456789abcdef_secret", now=1_000.0)
    assert "hrk_" not in sealed and "secret" not in sealed
    opened = session.current(request(sealed), now=1_000.0 + session.LIFETIME_S - 1)
    assert opened == started and opened.key == "hrk_0123456789abcdef_secret"
    assert session.current(request(sealed), now=1_000.0 + session.LIFETIME_S) is None
    middle = len(sealed) - 10  # inside the sealed payload, away from the last character's unused bits
    tampered = sealed[:middle] + ("A" if sealed[middle] != "A" else "B") + sealed[middle + 1 :]
    assert session.current(request(tampered), now=1_000.0) is None  # tampered: no session
    _, other = session.start(request(), "hrk_0123456789abcdef_secret", now=1_000.0)
    assert other != sealed  # a fresh data key and nonce each time


async def test_a_revoked_key_ends_its_session(settings: Settings, redis: Redis) -> None:
    created, token = await ApiKeys(redis, RegistryKeys()).create("ui-test", ["operator"])
    async with running(settings) as http:
        await sign_in(http, token)
        await ApiKeys(redis, RegistryKeys()).revoke(created.id)
        answer = await http.get("/ui/events")
        assert answer.status_code == 303
        assert "expired" in answer.headers["location"]


async def test_a_read_only_key_sees_no_write_controls_and_its_writes_are_refused(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    await seed_slack(seed)
    reader = await _key(redis, "project:p1:read")
    async with running(settings) as http:
        [event_id] = (await post_slack(http, slack_event())).json()["ids"]
        worker = make_worker(redis, registry)
        while await worker.run_once():
            pass
        csrf = await sign_in(http, reader)
        listed = await http.get("/ui/events")
        assert event_id in listed.text
        page = await http.get(f"/ui/events/{event_id}")
        assert page.status_code == 200
        assert "read-only" in page.text
        assert "<form" in page.text  # the sign-out form: forms render, only the write ones are left out
        assert f"/ui/events/{event_id}/replay" not in page.text and 'name="mode"' not in page.text
        destinations = await http.get("/ui/destinations")
        assert "New destination" not in destinations.text
        # Posting anyway: the admin API refuses what the key may not do.
        answer = await http.post(f"/ui/events/{event_id}/replay", data={"mode": "reroute", "csrf": csrf})
        assert answer.status_code == 403
        put = await http.post(
            "/ui/destinations",
            data={"id": "d1", "project": "p1", "template": "webhook", "url": "https://example.com/x", "csrf": csrf},
        )
        assert put.status_code == 403
        admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
        assert (await http.get("/api/destinations/d1", headers=admin)).status_code == 404


async def test_events_page_through_every_match(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    await seed_slack(seed)
    async with running(settings) as http:
        posted = [(await post_slack(http, slack_event(event_id=f"EvPage{n}"))).json()["ids"][0] for n in range(30)]
        worker = make_worker(redis, registry)
        while await worker.run_once():
            pass
        await sign_in(http, ADMIN_TOKEN)
        first = await http.get("/ui/events")
        shown = re.findall(r'href="/ui/events/([0-9]+-[0-9]+)"', first.text)
        assert shown == posted[::-1][:25] and "30 matching" in first.text
        older = re.search(r'href="(/ui/events\?[^"]*cursor=[^"]+)"', first.text)
        assert older and "Newest" not in first.text
        second = await http.get(older.group(1).replace("&amp;", "&"))
        assert re.findall(r'href="/ui/events/([0-9]+-[0-9]+)"', second.text) == posted[::-1][25:]
        assert "Newest" in second.text and "Older events" not in second.text


async def test_an_event_body_is_escaped_and_shown_as_json_text_or_hex(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    await seed_slack(seed)
    hostile = json.dumps(
        {"type": "event_callback", "team_id": TEAM, "event_id": "EvX", "event": {"type": "message", "text": XSS}}
    ).encode()
    async with running(settings) as http:
        [event_id] = (await post_slack(http, hostile)).json()["ids"]
        await sign_in(http, ADMIN_TOKEN)
        page = (await http.get(f"/ui/events/{event_id}")).text
    assert XSS not in page and "&lt;script&gt;" in page
    assert '\n  "team_id"' in html.unescape(page)  # pretty-printed
    deep = "[" * 100_000 + "]" * 100_000
    assert events._body_view({"body": deep}) == {"kind": "text", "text": deep}
    assert context._pretty(deep) == deep  # deeper than the parser goes: shown as it came, not a 500
    raw = bytes(range(256)) * 20
    shown = events._body_view({"body": None, "body_base64": base64.b64encode(raw).decode()})
    assert shown["kind"] == "hex" and shown["text"].startswith("0001 0203") and shown["truncated"] == "True"
    assert events._body_view({"body": "x" * (events.TEXT_CHARS + 1)})["kind"] == "cut"


@given(body=st.text(max_size=200))
def test_pretty_printing_never_fails(body: str) -> None:
    shown = context._pretty(body)
    try:
        parsed = json.loads(body)
    except ValueError:
        assert shown == body  # not JSON: exactly as it came
    else:
        assert json.dumps(json.loads(shown)) == json.dumps(parsed)  # the same value, only laid out


async def test_a_replay_posted_twice_is_one_replay(settings: Settings) -> None:
    async with running(settings) as http:
        csrf = await sign_in(http, ADMIN_TOKEN)
        form = {"integration": "slack-app", "mode": "reroute", "csrf": csrf}
        counted = await http.post("/ui/replays", data={**form, "action": "count"})
        assert counted.status_code == 303
        [count_id] = re.findall(r"counted=(ui-dry-[0-9a-f]{16})", counted.headers["location"])
        started = [await http.post("/ui/replays", data={**form, "action": "start", "counted": count_id}) for _ in "12"]
        locations = {answer.headers["location"] for answer in started}
        assert len(locations) == 1 and f"job=ui-run-{count_id.removeprefix('ui-dry-')}" in locations.pop()
        job = await http.get(f"/api/replays/ui-run-{count_id.removeprefix('ui-dry-')}", headers=AUTH)
        assert job.status_code == 200 and job.json()["dry_run"] is False


async def test_a_project_writer_may_replay_nothing_the_api_keeps_for_the_operator(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    await seed(project=[{"id": "p1"}])
    writer = await _key(redis, "project:p1:write")
    async with running(settings) as http:
        csrf = await sign_in(http, writer)
        answer = await http.post("/ui/deliveries/redrive", data={"workflow": "wf-1", "csrf": csrf})
        assert answer.status_code == 403
        assert "operator" in answer.text


async def test_sign_in_redirects_only_to_dashboard_pages(settings: Settings) -> None:
    async with running(settings) as http:
        for target, expected in (("/ui/events", "/ui/events"), ("https://evil.example/", "/ui/"), ("//evil", "/ui/")):
            http.cookies.clear()
            form = await http.get("/ui/login")
            answer = await http.post("/ui/login", data={"key": ADMIN_TOKEN, "csrf": csrf_of(form.text), "next": target})
            assert answer.headers["location"] == expected


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    filters=st.dictionaries(
        st.sampled_from(["integration", "provider_id", "event_type", "status", "afterDate"]),
        st.text(max_size=30),
        max_size=3,
    )
)
async def test_hostile_filters_get_a_page_never_a_crash(settings: Settings, filters: dict[str, str]) -> None:
    async with running(settings) as http:
        await sign_in(http, ADMIN_TOKEN)
        answer = await http.get("/ui/events", params=filters)
        assert answer.status_code in (200, 400)
        assert "<script>" not in re.sub(r"<script src=[^>]+></script>", "", answer.text)


async def test_the_overview_charts_one_stats_call(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    await seed_slack(seed)
    async with running(settings) as http:
        for event_id in ("EvO1", "EvO2", "EvO1"):  # the third is the provider's retry of the first
            assert (await post_slack(http, slack_event(event_id=event_id))).status_code == 200
        forged = slack_event(event_id="EvOForged")
        headers = {**signed(forged, "not-the-secret"), "content-type": "application/json"}
        assert (await http.post(SLACK_URL, content=forged, headers=headers)).status_code == 401
        worker = make_worker(redis, registry)
        while await worker.run_once():
            pass
        await sign_in(http, ADMIN_TOKEN)
        page = await http.get("/ui/")
        stats = (await http.get("/api/stats", headers=AUTH)).json()["buckets"]
    assert page.status_code == 200
    legend = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.text.split('class="legend"')[1].split("</figcaption>")[0]))
    assert "received: 4" in legend and "stored: 2" in legend and "routed: 2" in legend
    assert "failed verification: 1" in legend
    # The table holds the API's buckets, hour by hour: the current hour's row is its last.
    rows = re.findall(r"<tr><td><time[^>]*>[^<]*</time></td>((?:<td>\d+</td>)+)</tr>", page.text)
    assert len(rows) == len(stats) == 12
    assert re.findall(r"\d+", rows[-1]) == [str(stats[-1][k]) for k in ("received", "stored", "routed")] + ["1"]


async def test_a_refused_destination_comes_back_as_typed_with_the_reason_beside_its_field(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    async with running(settings) as http:
        csrf = await sign_in(http, ADMIN_TOKEN)
        form = {"id": "p1-dd", "project": "p1", "name": "Datadog EU", "template": "datadog", "csrf": csrf}
        form |= {"option": "datadoghq.eu", "event_types": "workflow_failure, no_such_event", "header_value": "k-1"}
        answer = await http.post("/ui/destinations", data=form)
        assert answer.status_code == 400  # the form again, not an error page
        page = answer.text
        assert 'id="edit"' in page and "Not saved: the reasons are beside the fields." in page
        assert 'id="error-form"' not in page  # nothing left over for the top of the form
        assert 'value="Datadog EU"' in page and 'value="datadoghq.eu"' in page and "no_such_event" in page
        reason = re.search(r'id="error-event_types"[^>]*>([^<]+)<', page)
        assert reason and "no_such_event" in html.unescape(reason.group(1))
        assert 'aria-invalid="true" aria-describedby="error-event_types"' in page
        assert "k-1" not in page  # a secret is never written back into the page
        assert await registry.get("destination", "p1-dd") is None  # nothing saved
        # A URL the record refuses: its reason beside the URL.
        refused = await http.post(
            "/ui/destinations",
            data={"id": "p1-hook", "project": "p1", "template": "webhook", "url": "ftp://example.com/x", "csrf": csrf},
        )
        assert refused.status_code == 400 and 'id="error-url"' in refused.text
        # Missing id: the same form, its reason beside the id field.
        no_id = await http.post("/ui/destinations", data={**form, "id": ""})
        assert no_id.status_code == 400 and 'id="error-id"' in no_id.text and 'value="Datadog EU"' in no_id.text


async def _destination(registry: Registry, destination_id: str) -> Destination:
    found = await registry.get("destination", destination_id)
    assert isinstance(found, Destination)
    return found


async def test_editing_a_destination_keeps_its_write_only_secrets_when_left_blank(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    url = "https://hooks.example.com/services/T0/B0/secret-path"
    async with running(settings) as http:
        put = {"project": "p1", "template": "webhook", "url": url, "headers": {"X-Key": "k-secret"}}
        assert (await http.put("/api/destinations/p1-hook", json=put, headers=AUTH)).status_code == 201
        csrf = await sign_in(http, ADMIN_TOKEN)
        edit = await http.get("/ui/destinations", params={"edit": "p1-hook"})
        assert "write-only" in edit.text and "Leave them blank to keep the stored ones" in edit.text
        assert 'name="existing" value="1"' in edit.text and 'value="X-Key"' in edit.text
        assert url not in edit.text and "k-secret" not in edit.text
        form = {"id": "p1-hook", "existing": "1", "project": "p1", "template": "webhook", "name": "Renamed"}
        saved = await http.post(
            "/ui/destinations", data={**form, "header_name": "X-Key", "enabled": "on", "csrf": csrf}
        )
        assert saved.status_code == 303, saved.text
        stored = await _destination(registry, "p1-hook")
        assert stored.name == "Renamed"
        assert stored.url is not None and stored.url.get_secret_value() == url
        assert {k: v.get_secret_value() for k, v in stored.headers.items()} == {"X-Key": "k-secret"}
        # Typed again, a secret is replaced.
        new = {**form, "url": "https://hooks.example.com/new", "csrf": csrf}
        assert (await http.post("/ui/destinations", data=new)).status_code == 303
        stored = await _destination(registry, "p1-hook")
        assert stored.url is not None
        assert stored.url.get_secret_value() == "https://hooks.example.com/new"
    # The header value, not typed again, is still the stored one.
    assert {k: v.get_secret_value() for k, v in stored.headers.items()} == {"X-Key": "k-secret"}


async def test_deleting_a_destination_asks_first(settings: Settings, seed: Seed) -> None:
    await seed(project=[{"id": "p1"}])
    async with running(settings) as http:
        put = {"project": "p1", "template": "webhook", "url": "https://hooks.example.com/x"}
        assert (await http.put("/api/destinations/p1-gone", json=put, headers=AUTH)).status_code == 201
        csrf = await sign_in(http, ADMIN_TOKEN)
        listed = await http.get("/ui/destinations")
        assert 'action="/ui/destinations/p1-gone/delete"' in listed.text
        asked = await http.post("/ui/destinations/p1-gone/delete", data={"csrf": csrf})
        assert asked.status_code == 200 and "Delete destination p1-gone?" in asked.text
        assert 'name="confirm" value="yes"' in asked.text and 'href="/ui/destinations"' in asked.text
        assert (await http.get("/api/destinations/p1-gone", headers=AUTH)).status_code == 200  # not yet
        done = await http.post("/ui/destinations/p1-gone/delete", data={"csrf": csrf, "confirm": "yes"})
        assert done.status_code == 303 and "p1-gone+deleted" in done.headers["location"]
        assert (await http.get("/api/destinations/p1-gone", headers=AUTH)).status_code == 404
        forged = await http.post("/ui/destinations/p1-alerts/delete", data={"confirm": "yes"})
        assert forged.status_code == 403


async def test_clearing_handshake_captures_asks_first(settings: Settings, seed: Seed) -> None:
    await seed(project=[{"id": "p1"}], integration=[{"id": "asana-app", "type": "asana"}])
    async with running(settings) as http:
        shake = await http.post(
            "/webhook/triggers/connect/asana/asana-app", headers={"x-hook-secret": "hook-0123456789"}
        )
        assert shake.status_code == 200
        csrf = await sign_in(http, ADMIN_TOKEN)
        page = await http.get("/ui/integrations")
        assert "hook-0123456789" in page.text and "/ui/integrations/asana-app/captures/clear" in page.text
        asked = await http.post("/ui/integrations/asana-app/captures/clear", data={"csrf": csrf})
        assert asked.status_code == 200 and "Clear the handshake captures of asana-app?" in asked.text
        assert len((await http.get("/api/integrations/asana-app/handshakes", headers=AUTH)).json()["data"]) == 1
        done = await http.post("/ui/integrations/asana-app/captures/clear", data={"csrf": csrf, "confirm": "yes"})
        assert done.status_code == 303 and "1%20captures%20of%20asana-app%20cleared" in done.headers["location"]
        assert (await http.get("/api/integrations/asana-app/handshakes", headers=AUTH)).json()["data"] == []


async def test_the_replays_status_filter_is_a_select(settings: Settings) -> None:
    async with running(settings) as http:
        await sign_in(http, ADMIN_TOKEN)
        page = await http.get("/ui/replays", params={"status": "unmatched"})
    select = re.search(r'<select name="status">(.*?)</select>', page.text)
    assert select, "no status select"
    assert re.findall(r"<option[^>]*>([a-z]*)</option>", select.group(1)) == ["any", *events.STATUSES]
    assert "<option selected>unmatched</option>" in select.group(1)


async def test_a_key_for_several_projects_picks_one_and_is_told_what_it_cannot_read(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}, {"id": "p2"}, {"id": "p3"}])
    await seed_slack(seed)
    two = await _key(redis, "project:p1:read", "project:p2:read")
    async with running(settings) as http:
        assert (await post_slack(http, slack_event(event_id="EvPick"))).status_code == 200
        await sign_in(http, two)
        first = await http.get("/ui/")
        assert first.status_code == 200 and "<small>project p1</small>" in first.text
        picker = re.search(r'<select name="project" id="project-picker">(.*?)</select>', first.text)
        assert picker and re.findall(r"<option[^>]*>([^<]*)</option>", picker.group(1)) == ["p1", "p2"]
        assert "stored: <b>1</b>" in first.text  # slack-app is p1's
        second = await http.get("/ui/", params={"project": "p2"})
        assert "<small>project p2</small>" in second.text and "stored: <b>0</b>" in second.text
        assert 'href="/ui/events?project=p2"' in second.text  # the nav keeps the choice
        events_page = await http.get("/ui/events", params={"project": "p2"})
        assert events_page.status_code == 200 and 'name="project" value="p2"' in events_page.text
        other = await http.get("/ui/", params={"project": "p3"})
        assert other.status_code == 200
        assert "This key cannot read project p3 (it reads: p1, p2)." in other.text and "project p1" in other.text
        replays = await http.get("/ui/replays")
        assert (
            replays.status_code == 200
            and 'id="operator-only"' in replays.text
            and "need an operator key" in replays.text
        )
        one = await _key(redis, "project:p1:read")
        await sign_in(http, one)
        assert 'id="project-picker"' not in (await http.get("/ui/")).text  # one project: nothing to pick
