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
from subscriptions.keys import RegistryKeys
from subscriptions.registry import Registry
from tests.router.conftest import ADMIN_TOKEN, TEAM, Seed, make_worker, running, seed_slack
from tests.router.test_ingest import post_slack, slack_event
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
