"""Request ids, trace context and the per-request log line: from the inbound request to the stored event, its
trigger job and the POST to an HTTP target."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from router.ingress.observe import continue_trace, sane_request_id
from router.logs import JsonFormatter, RequestIdFilter
from router.settings import Settings
from router.storage.entries import IngestEvent, TriggerJob
from router.storage.keys import Keys
from subscriptions.registry import Registry
from tests.router.conftest import (
    SLACK_SECRET,
    SLACK_URL,
    Seed,
    make_settings,
    make_worker,
    running,
    seed_slack,
    xrange_all,
)
from tests.router.loopback import http_sink
from tests.router.test_delivery import delivery_worker, drain, seed_target
from tests.router.test_ingest import post_slack, signed, slack_event

pytestmark = pytest.mark.anyio
KEYS = Keys()
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
INBOUND_TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"  # the W3C Trace Context specification's example
TRACEPARENT = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-42.a:b_C", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("semi;colon", False),
        ("ünïcode", False),
    ],
)
async def test_a_sane_request_id_is_echoed_and_anything_else_replaced(
    settings: Settings, sent: str, kept: bool
) -> None:
    async with running(settings) as http:
        answer = await http.get("/healthz", headers={b"x-request-id": sent.encode()})
    echoed = answer.headers["x-request-id"]
    assert echoed == sent if kept else GENERATED_ID.fullmatch(echoed)


async def test_without_a_request_id_each_request_gets_its_own(settings: Settings) -> None:
    async with running(settings) as http:
        first, second = [(await http.get("/healthz")).headers["x-request-id"] for _ in range(2)]
    assert GENERATED_ID.fullmatch(first) and GENERATED_ID.fullmatch(second) and first != second


@given(st.text(max_size=200))
def test_request_ids_are_kept_only_when_bounded_and_safe(value: str) -> None:
    kept = sane_request_id(value)
    assert kept is None or (kept == value and re.fullmatch(r"[A-Za-z0-9._:\-]{1,128}", kept))


@given(st.text(max_size=120))
def test_any_traceparent_yields_a_valid_one(value: str) -> None:
    assert TRACEPARENT.fullmatch(continue_trace(value))


@pytest.mark.parametrize(
    "sent",
    [
        None,
        "garbage",
        f"00-{'0' * 32}-00f067aa0ba902b7-01",  # all-zero trace id: invalid, a new trace starts
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id: invalid
        f"ff-{TRACE_ID}-00f067aa0ba902b7-01",  # version ff is forbidden
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(sent: str | None) -> None:
    started = continue_trace(sent)
    assert TRACEPARENT.fullmatch(started) and TRACE_ID not in started


def test_a_valid_traceparent_continues_its_trace_with_a_new_span() -> None:
    continued = continue_trace(INBOUND_TRACEPARENT)
    version, trace, span, flags = continued.split("-")
    assert (version, trace, flags) == ("00", TRACE_ID, "01") and span != "00f067aa0ba902b7"


async def test_the_request_id_and_trace_reach_the_event_the_job_and_the_target(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    with http_sink() as sink:
        await seed_target(seed, sink.url())
        async with running(settings) as http:
            answer = await post_slack(
                http, slack_event(event_id="EvTraced"), **{"x-request-id": "rq-1", "traceparent": INBOUND_TRACEPARENT}
            )
        assert answer.headers["x-request-id"] == "rq-1"
        [(_, fields)] = await xrange_all(redis, KEYS.ingest)
        event = IngestEvent.from_fields({k.decode(): v for k, v in fields.items()})
        assert event.request_id == "rq-1" and event.traceparent.split("-")[1] == TRACE_ID
        await make_worker(redis, registry).run_once()
        [(_, job_fields)] = await xrange_all(redis, KEYS.delivery_jobs)
        job = TriggerJob.from_fields({k.decode(): v for k, v in job_fields.items()})
        assert (job.request_id, job.traceparent) == (event.request_id, event.traceparent)
        async with httpx.AsyncClient() as client:
            await drain(delivery_worker(redis, registry, client))
        [received] = sink.received
    assert received.headers["x-request-id"] == "rq-1"
    assert received.headers["traceparent"] == event.traceparent


async def test_one_line_per_request_and_the_accepted_events_and_404s_without_secrets_or_bodies(
    settings: Settings, seed: Seed, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_slack(seed)
    body = slack_event(event_id="EvLogged")
    caplog.handler.addFilter(RequestIdFilter())  # as the CLI's logging configuration does
    with caplog.at_level(logging.INFO):
        async with running(settings) as http:
            accepted = await post_slack(http, body, **{"x-request-id": "rq-accepted"})
            wrong = await http.post("/webhook/triggers/connect/slack/wrong-app?secret=in-the-query", content=body)
            await http.post(SLACK_URL, content=body, headers={**signed(body), "x-request-id": "rq-2"})
    assert accepted.status_code == 200 and wrong.status_code == 404
    formatter = JsonFormatter()
    # The test's own httpx client logs its URLs; the CLI's configuration keeps httpx at WARNING.
    records = [record for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    lines = [json.loads(formatter.format(record)) for record in records]
    requests = [line for line in lines if line["logger"] == "router.access"]
    assert [(r["status"], r["request_id"] == "rq-accepted") for r in requests] == [
        (200, True),
        (404, False),
        (200, False),
    ]
    assert requests[1]["path"] == "/webhook/triggers/connect/slack/wrong-app"  # the wrong URL, not its query
    assert requests[0]["route"] == "/webhook/triggers/connect/{integration}/{integration_id}"
    assert requests[0]["integration"] == "slack-app" and requests[0]["duration_ms"] >= 0
    # One line per accepted webhook: the access line carries the stored ids.
    assert requests[0]["ids"] == accepted.json()["ids"] and requests[0]["duplicates"] == 0
    assert not [line for line in lines if line["msg"] == "accepted webhook"]
    unknown = next(line for line in lines if line["msg"] == "webhook for an unknown integration")
    assert unknown["id"] == "wrong-app"
    everything = "\n".join(formatter.format(record) for record in records)
    for secret in (SLACK_SECRET, "in-the-query", "EvLogged", "hello"):
        assert secret not in everything


async def test_the_stored_ids_get_a_line_of_their_own_when_the_access_line_is_off(
    redis_url: str, seed: Seed, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_slack(seed)
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.INFO):
        async with running(make_settings(redis_url, access_log_level="debug")) as http:
            accepted = await post_slack(http, slack_event(event_id="EvQuiet"), **{"x-request-id": "rq-quiet"})
    assert accepted.status_code == 200
    assert not [r for r in caplog.records if r.name == "router.access"]
    [line] = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "accepted webhook"]
    assert line["ids"] == accepted.json()["ids"] and line["request_id"] == "rq-quiet"


async def test_the_access_line_level_is_configurable(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        async with running(make_settings(redis_url, access_log_level="debug")) as http:
            await http.get("/healthz")
    assert not [r for r in caplog.records if r.name == "router.access"]
    with caplog.at_level(logging.DEBUG, logger="router.access"):
        async with running(make_settings(redis_url, access_log_level="debug")) as http:
            await http.get("/healthz")
    [line] = [r for r in caplog.records if r.name == "router.access"]
    assert line.levelno == logging.DEBUG


@given(
    st.dictionaries(
        st.sampled_from(["ids", "integration", "count", "note"]),
        st.one_of(
            st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.lists(st.text(max_size=8))
        ),
    )
)
def test_a_log_line_is_one_json_document_whatever_its_values(extra: dict[str, object]) -> None:
    # Lone surrogates and integers past 64 bits included: orjson refuses both, the line is written all the same.
    record = logging.LogRecord("router.access", logging.INFO, "", 0, "request", (), None)
    record.__dict__.update(extra)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["msg"] == "request"
    assert {key: parsed[key] for key in extra} == extra


def test_a_value_json_cannot_hold_is_written_as_its_text() -> None:
    record = logging.LogRecord("router.access", logging.INFO, "", 0, "request", (), None)
    record.surrogate, record.big, record.path = "\udc80", 2**70, Path("/srv")
    parsed = json.loads(JsonFormatter().format(record))
    assert (parsed["surrogate"], parsed["big"], parsed["path"]) == ("\udc80", 2**70, "/srv")


def test_a_float_json_cannot_hold_is_null_so_the_line_stays_json() -> None:
    record = logging.LogRecord("router.access", logging.INFO, "", 0, "request", (), None)
    record.inf, record.nan = float("inf"), float("nan")
    line = JsonFormatter().format(record)
    assert json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} is not JSON"))["inf"] is None
