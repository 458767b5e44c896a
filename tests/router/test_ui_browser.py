"""The dashboard in a real browser: headless Chromium (the distribution's package, driven by its chromedriver)
against a live server with a real Redis, workers running, and events sent to it as signed Slack webhooks.

One browser and one server for the module; each test signs in as it needs. Every page is saved as a screenshot
under ``tests/artifacts/screenshots/`` (git-ignored; CI keeps the folder).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys as Key
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select, WebDriverWait

from subscriptions.api_keys import ApiKeys
from subscriptions.keys import RegistryKeys
from tests.router.conftest import ADMIN_TOKEN, SLACK_SECRET, TEAM, make_registry, make_seed, make_settings
from tests.router.live import serve
from tests.router.loopback import HttpSink, Reply, http_sink
from tests.router.test_ingest import signed, slack_event

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
HOOK = "asana-hook-secret-0123456789"  # what Asana hands over in its handshake
WAIT_S = 20.0  # far above what any step takes, so a loaded machine cannot fail it
FAST_TARGET = {"breaker_failures": 1000, "rate_per_s": 100_000, "burst": 100_000, "timeout_s": 5}


@dataclass(frozen=True, slots=True)
class World:
    base: str
    ok: HttpSink  # wf-1's target and the destinations' endpoint: answers 200
    gone: HttpSink  # wf-gone's target: answers 410 until a test makes it answer 200
    reader: str  # a key that may only read project p1
    events: list[str]  # the stored events' ids, oldest first


def until(check: Callable[[], object], what: str, timeout_s: float = WAIT_S, seen: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what} (seen: {seen()})"
        time.sleep(0.05)


def flashed(browser: WebDriver, text: str) -> None:
    """Until the page's confirmation (or error) line says ``text``; a failure names what it said instead."""
    until(lambda: text in flash(browser), repr(text), seen=lambda: flash(browser))


async def _seed(redis_url: str, ok: HttpSink, gone: HttpSink) -> str:
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        seed = make_seed(make_registry(redis))
        await seed(project=[{"id": "p1"}])
        target = {"type": "http", "secrets": [WHSEC], **FAST_TARGET}
        await seed(
            integration=[{"id": "slack-app", "type": "slack", "secrets": [SLACK_SECRET]}],
            user=[{"id": "u1"}],
            credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "provider_id": TEAM}],
            workflow=[
                {
                    "id": "wf-1",
                    "name": "On message",
                    "integration": "slack-app",
                    "trigger": "*",
                    "target": {**target, "url": ok.url("/runner")},
                },
                {
                    "id": "wf-gone",
                    "name": "Retired runner",
                    "integration": "slack-app",
                    "trigger": "event:reaction_added",
                    "target": {**target, "url": gone.url("/runner")},
                },
            ],
            activate=[("wf-1", "u1"), ("wf-gone", "u1")],
        )
        await seed(destination=[{"id": "p1-alerts", "name": "On-call hook", "url": ok.url("/alerts")}])
        await seed(integration=[{"id": "asana-app", "type": "asana"}])  # no secret yet: its handshake is captured
        _, reader = await ApiKeys(redis, RegistryKeys()).create("p1 viewer", ["project:p1:read"])
        return reader
    finally:
        await redis.aclose()


def _post(base: str, body: bytes, *, secret: str = SLACK_SECRET) -> httpx.Response:
    headers = {**signed(body, secret), "content-type": "application/json"}
    return httpx.post(f"{base}/webhook/triggers/connect/slack/slack-app", content=body, headers=headers)


@pytest.fixture(scope="module")
def world(redis_url: str) -> Iterator[World]:
    with http_sink() as ok, http_sink(default=Reply(410)) as gone:
        reader = asyncio.run(_seed(redis_url, ok, gone))
        settings = make_settings(redis_url, run_workers=True, consumer_name="ui-browser")
        with serve(settings) as base:
            ids = []
            for n, kind in enumerate(["message", "message", "reaction_added"]):
                answer = _post(base, slack_event(kind, event_id=f"EvUI{n}"))
                assert answer.status_code == 200, answer.text
                ids += answer.json()["ids"]
            bad = _post(base, slack_event(event_id="EvForged"), secret="not-the-secret")
            assert bad.status_code == 401
            shake = httpx.post(f"{base}/webhook/triggers/connect/asana/asana-app", headers={"x-hook-secret": HOOK})
            assert shake.headers["x-hook-secret"] == HOOK
            until(lambda: len(gone.received) >= 1 and len(ok.received) >= 2, "the events delivered")
            yield World(base, ok, gone, reader, ids)


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    assert shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER), "apt-get install chromium chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(browser: WebDriver, name: str) -> None:
    # The whole page, not only the window: the screenshot shows what an operator scrolls through.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    width = browser.get_window_size()["width"]
    browser.set_window_size(width, max(900, min(int(height) + 120, 4000)))
    browser.save_screenshot(str(SHOTS / f"{name}.png"))
    browser.set_window_size(width, 900)


def sign_in(browser: WebDriver, world: World, key: str = ADMIN_TOKEN, page: str = "/ui/") -> None:
    browser.delete_all_cookies()
    browser.get(world.base + page)
    until(lambda: "/ui/login" in browser.current_url, "the redirect to sign in")
    browser.find_element(By.ID, "key").send_keys(key, Key.ENTER)
    until(lambda: "/ui/login" not in browser.current_url, "the sign-in")
    loaded(browser)


def loaded(browser: WebDriver) -> None:
    """Until the page after a click or redirect has loaded, its script included (it runs before `complete`)."""
    until(
        lambda: (
            browser.execute_script("return document.readyState") == "complete"
            and browser.find_elements(By.CSS_SELECTOR, "nav[aria-label=Main]")
        ),
        "the page loaded",
    )


def button(browser: WebDriver, text: str, within: WebElement | None = None) -> WebElement:
    root = within or browser
    found = [b for b in root.find_elements(By.CSS_SELECTOR, "button") if b.text.strip() == text]
    assert found, f"no button {text!r} on {browser.current_url}"
    return found[0]


def submit(browser: WebDriver, text: str, within: WebElement | None = None) -> None:
    """Press a form's button and wait for the page the server answers with (its old page gone first)."""
    old = browser.find_element(By.TAG_NAME, "html")
    button(browser, text, within).click()
    # While the old page's context is torn down, chromedriver may answer a probe of its element with
    # "unhandled inspector error" rather than "stale": that too means the navigation is under way, so ask again.
    WebDriverWait(browser, WAIT_S, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(old)
    )
    until(lambda: browser.execute_script("return document.readyState") == "complete", "the answer loaded")


def flash(browser: WebDriver) -> str:
    try:
        return " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, ".flash"))
    except StaleElementReferenceException:  # the page reloaded (a count still running reloads itself)
        return ""


def api(world: World, path: str) -> Any:
    """An admin API answer, as the operator: what the test checks a page's action against."""
    answer = httpx.get(world.base + "/api" + path, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_sign_in_and_overview(browser: WebDriver, world: World) -> None:
    sign_in(browser, world)
    assert browser.find_element(By.CSS_SELECTOR, "h1").text.startswith("Overview")
    legend = browser.find_element(By.CSS_SELECTOR, ".legend").text
    assert "stored: 3" in legend and "failed verification: 1" in legend and "received: 4" in legend
    assert "routed: 3" in legend  # every event made jobs (wf-1 takes all, wf-gone the reaction)
    # The chart's table is GET /api/stats's hours, read in one call.
    stats = api(world, "/stats?bucket=1h")["buckets"]
    last = browser.find_elements(By.CSS_SELECTOR, "table.compact tbody tr")[-1]
    cells = [c.text for c in last.find_elements(By.TAG_NAME, "td")][1:]
    assert cells == [str(stats[-1][k]) for k in ("received", "stored", "routed", "failed_verification")]
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg polyline")) == 4
    assert browser.find_element(By.ID, "dead").text == "1"  # wf-gone's 410
    # Times are the viewer's: the ISO text is rewritten in the browser's zone; UTC stays on hover.
    first = browser.find_element(By.CSS_SELECTOR, "time[datetime]")
    assert first.text != first.get_attribute("datetime") and (first.get_attribute("title") or "").endswith("UTC")
    # The session cookie is out of the page's reach.
    assert browser.execute_script("return document.cookie") == ""
    shot(browser, "overview")


def test_events_filter_event_page_and_replay(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/events")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
    assert len(rows) == 3
    shot(browser, "events")
    browser.find_element(By.NAME, "event_type").send_keys("reaction_added")
    browser.find_element(By.NAME, "integration").send_keys("slack-app", Key.ENTER)
    until(lambda: "event_type=reaction_added" in browser.current_url, "the filtered list")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rows tbody tr")
    assert len(rows) == 1 and world.events[2] in rows[0].text
    rows[0].find_element(By.CSS_SELECTOR, "a").click()
    until(lambda: "/ui/events/" in browser.current_url, "the event's page")
    body = browser.find_element(By.CSS_SELECTOR, "pre.body").text
    assert json.loads(body)["event"]["type"] == "reaction_added" and '\n  "type"' in body  # pretty-printed
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "verified by provider signature" in text
    assert "x-slack-signature" not in text.lower()  # allow-listed headers only
    assert "HTTP 410" in text and "target_gone" in text  # wf-gone's attempt on the timeline
    shot(browser, "event")
    submit(browser, "Replay: route again")
    flashed(browser, "Replay queued")

    def copied() -> bool:
        listed = api(world, "/events?event_type=reaction_added&integration=slack-app")["data"]
        return any(e["replay_of"] == world.events[2] for e in listed)

    until(copied, "the replayed copy stored")


def test_live_tail_shows_new_events(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/events")
    browser.find_element(By.ID, "tail").click()
    posted = _post(world.base, slack_event(event_id="EvTail"))
    assert posted.status_code == 200
    [event_id] = posted.json()["ids"]
    until(
        lambda: event_id in browser.find_element(By.ID, "rows").text,
        "the tail's new row",
        seen=lambda: browser.find_element(By.ID, "rows").text[:300],
    )


def test_deliveries_enable_a_target_and_redrive_its_dead_letter(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/deliveries")
    text = browser.find_element(By.TAG_NAME, "main").text
    assert "wf-gone" in text and "disabled" in text and "target_gone" in text
    assert "100000.0/s (burst 100000) · 10 at once · opens after 1000 failures" in text  # its configured limits
    shot(browser, "deliveries")
    world.gone.reset(Reply(200))  # the runner is back
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "tr") if r.text.startswith("wf-gone"))
    submit(browser, "Enable", row)
    flashed(browser, "Target wf-gone enabled")
    state = api(world, "/targets/wf-gone")
    assert state["disabled"] is None
    dead_before = len(api(world, "/dead-letters")["data"])
    assert dead_before >= 1  # wf-gone's, and one more if the replay of its event was delivered by now
    submit(browser, "Re-drive", browser.find_element(By.ID, "dead"))
    flashed(browser, "1 re-driven")
    until(lambda: len(world.gone.received) >= 1, "the re-driven job delivered")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "tr") if r.text.startswith("wf-gone"))
    submit(browser, "Re-drive all its dead letters", row)  # the target's whole dead-letter queue
    flashed(browser, " re-driven")
    until(lambda: api(world, "/dead-letters")["data"] == [], "every dead letter back to work")
    until(lambda: len(world.gone.received) >= dead_before, "every re-driven job delivered")


def test_integrations_show_the_url_to_paste_and_why_webhooks_were_rejected(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/integrations")
    section = browser.find_element(By.ID, "integration-slack-app")
    copy = section.find_element(By.CSS_SELECTOR, "button.copy")
    assert copy.get_attribute("data-copy") == "http://hooks.test/webhook/triggers/connect/slack/slack-app"
    assert "signature_mismatch" in section.text
    shot(browser, "integrations")
    # Asana's handshake value was captured, not trusted: the operator activates it here.
    asana = browser.find_element(By.ID, "integration-asana-app")
    assert HOOK in asana.text and api(world, "/integrations")["data"]
    submit(browser, "Activate as signing secret", asana)
    flashed(browser, "Secret updated: 1 active")
    listed = {i["id"]: i for i in api(world, "/integrations")["data"]}
    assert listed["asana-app"]["secrets_count"] == 1
    # Clearing the captures asks first; the activated secret stays.
    submit(browser, "Clear captures", browser.find_element(By.ID, "integration-asana-app"))
    assert "Clear the handshake captures of asana-app?" in browser.find_element(By.ID, "confirm").text
    submit(browser, "Clear captures", browser.find_element(By.ID, "confirm"))
    flashed(browser, "1 captures of asana-app cleared")
    assert api(world, "/integrations/asana-app/handshakes")["data"] == []
    assert {i["id"]: i for i in api(world, "/integrations")["data"]}["asana-app"]["secrets_count"] == 1


def test_destinations_send_test_create_and_disable(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/destinations")
    before = len([r for r in world.ok.received if r.path == "/alerts"])
    row = browser.find_element(By.ID, "destination-p1-alerts")
    submit(browser, "Send test", row)
    flashed(browser, "Test to p1-alerts: accepted, status 200")
    assert len([r for r in world.ok.received if r.path == "/alerts"]) == before + 1
    form = browser.find_element(By.ID, "edit")
    form.find_element(By.NAME, "id").send_keys("p1-slack")
    form.find_element(By.NAME, "template").send_keys("slack")
    form.find_element(By.NAME, "url").send_keys("https://hooks.slack.com/services/T0001/B0001/abcdef")
    submit(browser, "Save", form)
    flashed(browser, "Destination created")
    assert api(world, "/destinations/p1-slack")["template"] == "slack"
    row = browser.find_element(By.ID, "destination-p1-slack")
    submit(browser, "Disable", row)
    flashed(browser, "p1-slack disabled")
    assert api(world, "/destinations/p1-slack")["enabled"] is False
    # A form the API refuses comes back as typed, the reason beside the field.
    form = browser.find_element(By.ID, "edit")
    form.find_element(By.NAME, "id").send_keys("p1-bad")
    form.find_element(By.NAME, "name").send_keys("Typo")
    form.find_element(By.NAME, "event_types").send_keys("workflow_failur")
    form.find_element(By.NAME, "url").send_keys("https://example.com/hook")
    submit(browser, "Save", form)
    reason = browser.find_element(By.ID, "error-event_types").text
    assert "workflow_failur" in reason and "known: workflow_failure" in reason and "Not saved" in flash(browser)
    form = browser.find_element(By.ID, "edit")
    assert form.find_element(By.NAME, "name").get_attribute("value") == "Typo"
    assert form.find_element(By.NAME, "event_types").get_attribute("aria-invalid") == "true"
    shot(browser, "destination-refused")
    # Editing keeps the write-only URL when it is left blank: the test still reaches the endpoint.
    browser.get(world.base + "/ui/destinations?edit=p1-alerts")
    form = browser.find_element(By.ID, "edit")
    assert "Leave them blank to keep the stored ones" in form.text
    form.find_element(By.NAME, "name").clear()
    form.find_element(By.NAME, "name").send_keys("On-call hook (renamed)")
    submit(browser, "Save", form)
    flashed(browser, "Destination updated")
    assert api(world, "/destinations/p1-alerts")["name"] == "On-call hook (renamed)"
    submit(browser, "Send test", browser.find_element(By.ID, "destination-p1-alerts"))
    flashed(browser, "Test to p1-alerts: accepted, status 200")
    # Deleting asks first.
    submit(browser, "Delete", browser.find_element(By.ID, "destination-p1-slack"))
    assert "Delete destination p1-slack?" in browser.find_element(By.ID, "confirm").text
    submit(browser, "Delete destination", browser.find_element(By.ID, "confirm"))
    flashed(browser, "p1-slack deleted")
    assert not browser.find_elements(By.ID, "destination-p1-slack")
    assert httpx.get(world.base + "/api/destinations/p1-slack", headers=AUTH).status_code == 404
    shot(browser, "destinations")


def test_filtered_replay_counts_first_then_shows_progress(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/replays")
    status = Select(browser.find_element(By.CSS_SELECTOR, "select[name=status]"))
    assert [o.text for o in status.options] == ["any", "received", "routed", "unmatched", "delivered", "failed", "dead"]
    status.select_by_visible_text("any")
    browser.find_element(By.NAME, "integration").send_keys("slack-app")
    browser.find_element(By.NAME, "event_type").send_keys("message")
    submit(browser, "Count (dry run)")
    until(lambda: "events match" in flash(browser) and "still" not in flash(browser), "the dry run's count")
    assert "Dry run: 3 events match" in flash(browser)  # EvUI0, EvUI1 and the tail's
    submit(browser, "Replay 3 events")
    until(lambda: "done" in browser.find_element(By.ID, "job").text, "the replay done")
    assert "100%" in browser.find_element(By.ID, "job").text
    shot(browser, "replays")


def test_a_read_only_key_sees_no_write_controls_and_its_posts_are_refused(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, key=world.reader)
    pages = ("/ui/", "/ui/events", f"/ui/events/{world.events[0]}", "/ui/deliveries", "/ui/destinations", "/ui/replays")
    for page in pages:
        browser.get(world.base + page)
        labels = {b.text.strip() for b in browser.find_elements(By.CSS_SELECTOR, "main button")}
        assert labels <= {"Copy", "Search"}, f"{page} shows {labels}"
        assert "read-only" in browser.find_element(By.CSS_SELECTOR, ".who").text
    # Posting anyway, from the signed-in page with its own CSRF token: the server refuses.
    status = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const form = new FormData();
        form.append("csrf", document.querySelector("form.signout input[name=csrf]").value);
        form.append("mode", "reroute");
        fetch(arguments[0], {method: "POST", body: form}).then(r => done(r.status));""",
        f"/ui/events/{world.events[0]}/replay",
    )
    assert status == 403
    shot(browser, "read-only")


def test_phone_width_and_keyboard(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/events")
    browser.set_window_size(390, 844)
    try:
        for page in ("/ui/", "/ui/events", "/ui/deliveries", "/ui/destinations"):
            browser.get(world.base + page)
            overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            wide = browser.execute_script(
                """return [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right >
                window.innerWidth + 1 && !e.closest(".scroll")).slice(0, 5).map(e => e.tagName + "." + e.className)"""
            )
            assert overflow <= 1, f"{page} scrolls sideways at phone width: {wide}"
        browser.get(world.base + "/ui/events")
        browser.save_screenshot(str(SHOTS / "events-phone.png"))
        browser.find_element(By.TAG_NAME, "body").send_keys(Key.TAB)
        assert browser.switch_to.active_element.text == "Skip to content"
        browser.switch_to.active_element.send_keys(Key.ENTER)
        assert browser.switch_to.active_element.get_attribute("id") == "main"
    finally:
        browser.set_window_size(1280, 900)


def test_a_form_without_its_csrf_token_is_refused(browser: WebDriver, world: World) -> None:
    sign_in(browser, world, page="/ui/destinations")
    status = browser.execute_async_script(
        """const done = arguments[arguments.length - 1];
        fetch("/ui/destinations/p1-alerts/disable", {method: "POST", body: new FormData()})
            .then(r => done(r.status));"""
    )
    assert status == 403
    assert api(world, "/destinations/p1-alerts")["enabled"] is True


def test_the_browser_is_the_distributions_chromium(browser: WebDriver) -> None:
    # The driver drives the packaged binary (no downloaded browser build): it reports that binary's version.
    installed = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, check=True).stdout
    assert browser.capabilities["browserVersion"] in installed
