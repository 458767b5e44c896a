"""Destination templates: each vendor's request, sent to a loopback server and checked against the vendor's
documented shape (method, path, headers, body); the webhook payload template language; the errors."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, SecretStr

from router.delivery.attempt import attempt
from router.delivery.retry import Verdict
from router.notifications.destinations import SAMPLE_EVENT, Rendered, RenderError, render, validate
from router.notifications.destinations.slack import HEADER_MAX_CHARS, SECTION_MAX_CHARS
from router.notifications.events import credentials_failure, workflow_failure
from subscriptions.destinations import Destination
from subscriptions.models import ConnectedUser, Credential, Integration, Project, Workflow
from subscriptions.snapshot import Snapshot
from tests.router.loopback import HttpSink, Received, http_sink

SLACK_TOKEN = "XsLaCkToKeN0123456789abcd"
DD_KEY = "dd0123456789abcdef0123456789abcd"
NR_KEY = "eu01xx0123456789abcdef0123456789NRAL"
SENTRY_KEY = "0123456789abcdef0123456789abcdef"
WEBHOOK_TOKEN = "whk-Bearer-s3cret-7f3a"
ERROR = 'Request failed: "invalid_auth"\n<@U123> ```rm -rf``` & more'
EXECUTION_URL = "https://dashboard.example.com/connect/projects/proj-1/history/workflows/wf-1/executions/exec-1"


def snapshot() -> Snapshot:
    records: dict[str, list[BaseModel]] = {
        "project": [Project(id="proj-1", name="Acme CRM")],
        "integration": [Integration(id="int-1", project="proj-1", type="slack")],
        "user": [ConnectedUser(id="user-1", project="proj-1", metadata={"plan": "pro"})],
        "workflow": [Workflow(id="wf-1", project="proj-1", name="Sync contacts", integration="int-1")],
        "credential": [Credential(id="cred-1", project="proj-1", integration="int-1", user="user-1")],
    }
    return Snapshot.build(1, records)


def failure(*, now: float, execution: str = "exec-1", error: str = ERROR) -> dict[str, Any]:
    return workflow_failure(
        snapshot(),
        project="proj-1",
        workflow="wf-1",
        user="user-1",
        execution_id=execution,
        error=error,
        step={"stepId": "step-1", "startTime": int(now * 1000)},
        execution_url=EXECUTION_URL,
        now=now,
    )


def destination(**fields: Any) -> Destination:
    return Destination(id="dest-1", project="proj-1", **fields)


@pytest.fixture(scope="module")
def sink() -> Iterator[HttpSink]:
    with http_sink() as running:
        yield running


async def deliver(sink: HttpSink, rendered: Rendered) -> Received:
    """POST a rendered request the way the delivery worker does; return what the server received."""
    sink.reset()
    async with httpx.AsyncClient() as http:
        result = await attempt(
            http, url=rendered.url, body=rendered.body, headers=rendered.headers, timeout_s=5, now=time.time
        )
    assert result.verdict is Verdict.SUCCESS, result
    [received] = await sink.received_async(1)
    assert received.method == "POST"
    return received


def assert_secret_only_in(received: Received, secret: str, *, header: str | None = None, path: bool = False) -> None:
    assert secret not in received.body.decode("utf-8", "replace")
    assert secret not in received.query
    assert (secret in received.path) is path
    for name, value in received.headers.items():
        assert (secret in value) is (name == header), name


# --- webhook ---------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_webhook_default_payload_is_the_whole_event(sink: HttpSink) -> None:
    event = failure(now=time.time())
    dest = destination(url=SecretStr(sink.url("/hooks/acme")), headers={"Authorization": SecretStr(WEBHOOK_TOKEN)})
    validate(dest)
    received = await deliver(sink, render(dest, event, now=time.time()))
    assert received.path == "/hooks/acme"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["authorization"] == WEBHOOK_TOKEN
    assert json.loads(received.body) == event
    assert_secret_only_in(received, WEBHOOK_TOKEN, header="authorization")


@pytest.mark.anyio
async def test_webhook_payload_template(sink: HttpSink) -> None:
    event = failure(now=time.time())
    template = """{
        "text": "{{$.event.message}}",
        "summary": "{{ $.event.workflow.name }} failed: {{$.event.data.error}} (at {{$.event.timestamp}})",
        "error": "{{$.event.data.error}}",
        "workflow": {{$.event.workflow}},
        "when": {{$.event.timestamp}},
        "plan": "{{$.event.user.metadata['plan']}}",
        "braces": "{{ not a reference",
        "missing": {{$.event.data.nothing}},
        "missing_in_string": "[{{$.event.nope[3].x}}]"
    }"""
    dest = destination(
        url=SecretStr(sink.url("/hooks/t")), payload=template, headers={"Content-Type": SecretStr("application/json")}
    )
    validate(dest)
    received = await deliver(sink, render(dest, event, now=time.time()))
    assert json.loads(received.body) == {
        "text": event["message"],
        "summary": f"Sync contacts failed: {ERROR} (at {event['timestamp']})",
        "error": ERROR,
        "workflow": {"id": "wf-1", "name": "Sync contacts"},
        "when": event["timestamp"],
        "plan": "pro",
        "braces": "{{ not a reference",
        "missing": None,
        "missing_in_string": "[]",
    }
    assert list(received.headers).count("content-type") == 1


HOSTILE = [
    'quote " and backslash \\ and \\"',
    "new\nline\r\ttab\u2028sep",
    "}} closing braces {{ and a reference {{$.event.type}}",
    '"}, "injected": true, "x": {"',
    "emoji \U0001f525 and \u201ctypographic\u201c quotes",
    "",
]


@pytest.mark.parametrize("message", HOSTILE)
def test_event_text_cannot_break_the_template(message: str) -> None:
    event = dict(failure(now=1_700_000_000.0), message=message)
    template = '{"whole": "{{$.event.message}}", "inside": "<{{$.event.message}}>", "bare": {{$.event.message}}}'
    body = render(destination(url=SecretStr("https://hooks.example.com/x"), payload=template), event, now=0.0).body
    assert json.loads(body) == {"whole": message, "inside": f"<{message}>", "bare": message}


def test_missing_paths_become_null_and_blank_payload_means_the_event() -> None:
    event: dict[str, Any] = {"type": "delivery_exhausted", "message": "m", "data": {"items": [1]}}
    template = '{"a": "{{$.event.workflow.name}}", "b": {{$.event.data.items[5]}}, "c": {{$.event.message.deeper}}}'
    body = render(destination(url=SecretStr("https://h.example/x"), payload=template), event, now=0.0).body
    assert json.loads(body) == {"a": None, "b": None, "c": None}
    blank = render(destination(url=SecretStr("https://h.example/x"), payload="  "), event, now=0.0).body
    assert json.loads(blank) == event


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ('{"a": {{$.event.message}', "no matching"),
        ('{"a": {{$.body.message}}}', "starts with $.event"),
        ('{"a": "{{$.events}}"}', "starts with $.event"),
        ('{"a": {{$.event[x]}}}', "invalid reference"),
        ('{"a": {{$.event.message}},}', "valid JSON"),
        ('{"a": "unterminated}', "not closed"),
        ('{"a": {{$.event}} {{$.event}}}', "valid JSON"),
        ("not json at all", "valid JSON"),
        ('{"a": "{{$.event.message}}" "b"}', "valid JSON"),
    ],
)
def test_bad_templates_are_rejected_when_saved(template: str, problem: str) -> None:
    with pytest.raises(RenderError, match=re.escape(problem)):
        validate(destination(url=SecretStr("https://h.example/x"), payload=template))


def test_bad_headers_are_rejected() -> None:
    with pytest.raises(RenderError, match="X-Key"):
        validate(destination(url=SecretStr("https://h.example/x"), headers={"X-Key": SecretStr("a\r\nInjected: 1")}))
    with pytest.raises(RenderError, match="not a valid HTTP header name"):
        validate(destination(url=SecretStr("https://h.example/x"), headers={"Bad Name": SecretStr("v")}))


def test_email_destinations_are_not_rendered() -> None:
    email = destination(type="email", to=["ops@example.com"])
    validate(email)  # nothing to render: accepted
    with pytest.raises(RenderError, match="email"):
        render(email, SAMPLE_EVENT, now=0.0)


def test_rendered_repr_hides_secrets() -> None:
    rendered = render(
        destination(url=SecretStr("https://h.example/" + WEBHOOK_TOKEN), headers={"X-Token": SecretStr(WEBHOOK_TOKEN)}),
        SAMPLE_EVENT,
        now=0.0,
    )
    assert WEBHOOK_TOKEN not in repr(rendered)


# --- Slack -----------------------------------------------------------------------------------------------


def slack_destination(sink: HttpSink | None = None) -> Destination:
    options = {"base_url": sink.base} if sink else {}
    return destination(
        template="slack", url=SecretStr(f"https://hooks.slack.com/services/T0001/B0001/{SLACK_TOKEN}"), options=options
    )


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    texts = []
    for block in message["blocks"]:
        texts += [block["text"]["text"]] if "text" in block else []
        texts += [f["text"] for f in block.get("fields", [])] + [e["text"] for e in block.get("elements", [])]
    return texts


@pytest.mark.anyio
async def test_slack_block_kit_message(sink: HttpSink) -> None:
    now = time.time()
    event = failure(now=now)
    dest = slack_destination(sink)
    validate(dest)
    received = await deliver(sink, render(dest, event, now=now))
    assert received.path == f"/services/T0001/B0001/{SLACK_TOKEN}"
    assert received.headers["content-type"] == "application/json"
    assert_secret_only_in(received, SLACK_TOKEN, path=True)

    message = json.loads(received.body)
    assert set(message) == {"text", "blocks"}
    assert "Workflow failure" in message["text"] and "Sync contacts" in message["text"]
    blocks = message["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "section", "context"]
    header, summary, fields, error, link, _context = blocks
    assert header["text"] == {"type": "plain_text", "text": "Workflow failure", "emoji": False}
    assert summary["text"] == {"type": "mrkdwn", "text": event["message"]}
    assert [f["text"] for f in fields["fields"]] == [
        "*Project*\nAcme CRM",
        "*Integration*\nslack",
        "*Workflow*\nSync contacts",
        "*User*\nuser-1",
    ]
    # The error in a code block; its <@mention>, & and ``` neutralised.
    code = error["text"]["text"]
    assert code.startswith("*Error*\n```\n") and code.endswith("\n```")
    assert "&lt;@U123&gt;" in code and "&amp; more" in code and "<@" not in code
    assert code.count("```") == 2
    assert link["text"]["text"] == f"<{EXECUTION_URL}|View the execution>"
    assert all(len(t) <= SECTION_MAX_CHARS for t in mrkdwn_texts(message))


def test_slack_limits_long_text() -> None:
    event = dict(failure(now=1_700_000_000.0, error="<&>" * 5000), type="x" * 400, message="m" * 9000)
    message = json.loads(render(slack_destination(), event, now=0.0).body)
    header, summary, *_rest = message["blocks"]
    assert len(header["text"]["text"]) <= HEADER_MAX_CHARS
    assert len(summary["text"]["text"]) == SECTION_MAX_CHARS and summary["text"]["text"].endswith("\u2026")
    error = next(t for t in mrkdwn_texts(message) if t.startswith("*Error*"))
    assert len(error) <= SECTION_MAX_CHARS and error.endswith("\u2026\n```")
    assert not error.removesuffix("\u2026\n```").endswith(("&", "&l", "&lt", "&a", "&am", "&amp"))


def test_slack_without_execution_url_or_fields() -> None:
    event = {"type": "destination_disabled", "message": "Destination d disabled after 10 failures"}
    message = json.loads(render(slack_destination(), event, now=0.0).body)
    assert [b["type"] for b in message["blocks"]] == ["header", "section"]
    assert message["blocks"][0]["text"]["text"] == "Destination disabled"
    blank = json.loads(render(slack_destination(), {"message": "  \n"}, now=0.0).body)
    assert blank["blocks"][1]["text"]["text"] == "Event"  # Slack refuses a blank section


def test_slack_url_must_be_an_incoming_webhook() -> None:
    with pytest.raises(RenderError, match="hooks.slack.com") as caught:
        validate(destination(template="slack", url=SecretStr(f"https://evil.example/{SLACK_TOKEN}")))
    assert SLACK_TOKEN not in str(caught.value)


# --- Datadog ---------------------------------------------------------------------------------------------


def datadog_destination(**options: str) -> Destination:
    return destination(template="datadog", headers={"DD-API-KEY": SecretStr(DD_KEY)}, options=options)


@pytest.mark.anyio
async def test_datadog_logs_intake_v2(sink: HttpSink) -> None:
    now = time.time()
    event = failure(now=now)
    dest = datadog_destination(site="us5.datadoghq.com", service="billing", tags="env:prod", base_url=sink.base)
    validate(dest)
    received = await deliver(sink, render(dest, event, now=now))
    assert received.path == "/api/v2/logs"
    assert received.headers["dd-api-key"] == DD_KEY
    assert received.headers["content-type"] == "application/json"
    assert_secret_only_in(received, DD_KEY, header="dd-api-key")
    [log] = json.loads(received.body)
    assert set(log) == {"ddsource", "service", "status", "message", "ddtags", "hookrouter"}
    assert (log["ddsource"], log["service"], log["status"]) == ("hookrouter", "billing", "error")
    assert log["message"] == event["message"]
    assert log["ddtags"].split(",") == [
        "type:workflow_failure",
        "project:proj-1",
        "integration:slack",
        "workflow:wf-1",
        "env:prod",
    ]
    assert log["hookrouter"] == event


@pytest.mark.parametrize(
    ("site", "url"),
    [
        (None, "https://http-intake.logs.datadoghq.com/api/v2/logs"),
        ("us5.datadoghq.com", "https://http-intake.logs.us5.datadoghq.com/api/v2/logs"),
        ("datadoghq.eu", "https://http-intake.logs.datadoghq.eu/api/v2/logs"),
        ("app.datadoghq.eu", "https://http-intake.logs.datadoghq.eu/api/v2/logs"),
    ],
)
def test_datadog_site(site: str | None, url: str) -> None:
    dest = datadog_destination(**({"site": site} if site else {}))
    assert render(dest, SAMPLE_EVENT, now=0.0).url == url


@pytest.mark.parametrize("site", ["datadoghq", "evil.com/x", "a b.com", "http://datadoghq.com", ""])
def test_datadog_rejects_a_site_that_is_not_a_hostname(site: str) -> None:
    with pytest.raises(RenderError, match="options.site"):
        validate(datadog_destination(site=site))


def test_datadog_needs_an_api_key() -> None:
    with pytest.raises(RenderError, match="DD-API-KEY"):
        validate(destination(template="datadog"))


def test_datadog_tags_cannot_be_split_by_event_text() -> None:
    event = {"type": "workflow_failure", "project": {"id": "p,1"}, "workflow": {"id": "w:1 ,evil:tag"}}
    [log] = json.loads(render(datadog_destination(), event, now=0.0).body)
    assert log["ddtags"] == "type:workflow_failure,project:p_1,workflow:w:1__evil:tag"


# --- New Relic -------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_newrelic_log_api(sink: HttpSink) -> None:
    now = time.time()
    event = failure(now=now)
    dest = destination(template="newrelic", headers={"Api-Key": SecretStr(NR_KEY)}, options={"base_url": sink.base})
    validate(dest)
    received = await deliver(sink, render(dest, event, now=now))
    assert received.path == "/log/v1"
    assert received.headers["api-key"] == NR_KEY
    assert received.headers["content-type"] == "application/json"
    assert_secret_only_in(received, NR_KEY, header="api-key")
    [batch] = json.loads(received.body)
    assert batch["common"] == {"attributes": {"logtype": "hookrouter", "service": "hookrouter"}}
    [log] = batch["logs"]
    assert log["timestamp"] == event["timestamp"]  # epoch milliseconds
    assert log["message"] == event["message"]
    attributes = log["attributes"]
    assert attributes["level"] == "error"
    assert attributes["hookrouter.type"] == "workflow_failure"
    assert attributes["hookrouter.data.error"] == ERROR
    assert attributes["hookrouter.workflow.name"] == "Sync contacts"
    assert attributes["hookrouter.user.metadata.plan"] == "pro"
    assert attributes["hookrouter.data.executionUrl"] == EXECUTION_URL
    assert len(attributes) <= 255
    assert all(isinstance(v, str | int | float | bool) for v in attributes.values())


@pytest.mark.parametrize(
    ("region", "url"),
    [
        (None, "https://log-api.newrelic.com/log/v1"),
        ("us", "https://log-api.newrelic.com/log/v1"),
        ("EU", "https://log-api.eu.newrelic.com/log/v1"),
    ],
)
def test_newrelic_region(region: str | None, url: str) -> None:
    dest = destination(
        template="newrelic", headers={"Api-Key": SecretStr(NR_KEY)}, options={"region": region} if region else {}
    )
    assert render(dest, SAMPLE_EVENT, now=0.0).url == url


def test_newrelic_rejects_bad_config() -> None:
    with pytest.raises(RenderError, match="Api-Key"):
        validate(destination(template="newrelic"))
    with pytest.raises(RenderError, match="options.region"):
        validate(destination(template="newrelic", headers={"Api-Key": SecretStr(NR_KEY)}, options={"region": "mars"}))


def test_newrelic_old_events_are_dated_on_arrival_and_attributes_are_capped() -> None:
    now = 1_800_000_000.0
    event = {"type": "t", "timestamp": int((now - 3 * 86400) * 1000), "data": {f"k{i}": i for i in range(1000)}}
    dest = destination(template="newrelic", headers={"Api-Key": SecretStr(NR_KEY)})
    [batch] = json.loads(render(dest, event, now=now).body)
    [log] = batch["logs"]
    assert log["timestamp"] == int(now * 1000)
    assert log["attributes"]["hookrouter.timestamp"] == event["timestamp"]
    assert len(log["attributes"]) <= 255


# --- Sentry ----------------------------------------------------------------------------------------------


def sentry_auth(header: str) -> dict[str, str]:
    scheme, _, params = header.partition(" ")
    assert scheme == "Sentry"
    return dict(part.strip().split("=", 1) for part in params.split(","))


def check_sentry_event(payload: dict[str, Any], event: dict[str, Any]) -> None:
    assert len(payload["event_id"]) == 32 and payload["event_id"] == payload["event_id"].lower()
    assert uuid.UUID(hex=payload["event_id"]).version == 4
    assert payload["timestamp"] == event["timestamp"] / 1000
    assert (payload["level"], payload["platform"], payload["logger"]) == ("error", "other", "hookrouter")
    assert payload["logentry"] == {"formatted": event["message"]}
    assert payload["exception"] == {"values": [{"type": "workflow_failure", "value": ERROR}]}
    assert payload["tags"] == {
        "event_type": "workflow_failure",
        "project": "proj-1",
        "integration": "slack",
        "workflow": "wf-1",
    }
    assert payload["user"] == {"id": "user-1"}
    assert payload["extra"] == {"event": event}
    assert payload["fingerprint"] == ["hookrouter", "workflow_failure", "wf-1"]


@pytest.mark.anyio
async def test_sentry_store_endpoint(sink: HttpSink) -> None:
    now = time.time()
    event = failure(now=now)
    port = httpx.URL(sink.base).port
    dest = destination(template="sentry", url=SecretStr(f"http://{SENTRY_KEY}@127.0.0.1:{port}/4505"))
    validate(dest)
    received = await deliver(sink, render(dest, event, now=now))
    assert received.path == "/api/4505/store/"
    assert received.headers["content-type"] == "application/json"
    auth = sentry_auth(received.headers["x-sentry-auth"])
    assert auth["sentry_version"] == "7" and auth["sentry_client"] == "hookrouter/0.1"
    assert auth["sentry_key"] == SENTRY_KEY
    assert abs(int(auth["sentry_timestamp"]) - now) <= 1
    assert_secret_only_in(received, SENTRY_KEY, header="x-sentry-auth")
    check_sentry_event(json.loads(received.body), event)


@pytest.mark.anyio
async def test_sentry_envelope_endpoint(sink: HttpSink) -> None:
    now = time.time()
    event = failure(now=now)
    dest = destination(
        template="sentry",
        url=SecretStr(f"https://{SENTRY_KEY}@o4500.ingest.sentry.io/4505"),
        options={"endpoint": "envelope", "base_url": sink.base},
    )
    validate(dest)
    received = await deliver(sink, render(dest, event, now=now))
    assert received.path == "/api/4505/envelope/"
    assert received.headers["content-type"] == "application/x-sentry-envelope"
    auth = sentry_auth(received.headers["x-sentry-auth"])
    assert auth["sentry_key"] == SENTRY_KEY and "sentry_timestamp" not in auth  # replaced by sent_at
    assert_secret_only_in(received, SENTRY_KEY, header="x-sentry-auth")

    assert received.body.endswith(b"\n")
    header_line, item_line, payload_line = received.body[:-1].split(b"\n")
    envelope_header, item_header, payload = json.loads(header_line), json.loads(item_line), json.loads(payload_line)
    assert envelope_header["event_id"] == payload["event_id"]
    assert envelope_header["sent_at"].endswith("Z") and envelope_header["sent_at"].startswith(
        time.strftime("%Y-%m-%dT", time.gmtime(now))
    )
    assert item_header == {"type": "event", "length": len(payload_line), "content_type": "application/json"}
    check_sentry_event(payload, event)


INGEST_URL = "https://o535635.ingest.sentry.io/api/4504082601017344/store/"  # platform-api.md §5.4's example


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("path", "headers", "options"),
    [
        # The platform's template: the Ingest URL, and <Sentry Key> replaced in the auth header's value.
        ("/api/4504082601017344/store/", {"X-Sentry-Auth": f"Sentry sentry_version=7, sentry_key={SENTRY_KEY}"}, {}),
        ("/api/4504082601017344/store/", {"x-sentry-auth": SENTRY_KEY}, {}),  # the bare key
        ("/api/4504082601017344/store/?sentry_key=" + SENTRY_KEY, {}, {}),
        ("/api/4504082601017344/envelope/", {"X-Sentry-Auth": SENTRY_KEY}, {"endpoint": "envelope"}),
    ],
)
async def test_sentry_ingest_url_and_key_header(
    sink: HttpSink, path: str, headers: dict[str, str], options: dict[str, str]
) -> None:
    now = time.time()
    event = failure(now=now)
    sealed = {name: SecretStr(value) for name, value in headers.items()}
    dest = destination(template="sentry", url=SecretStr(sink.base + path), headers=sealed, options=options)
    validate(dest)
    received = await deliver(sink, render(dest, event, now=now))
    endpoint = path.split("?")[0]
    assert received.path == endpoint  # the key never travels in the query
    assert [k for k in received.headers if k == "x-sentry-auth"] == ["x-sentry-auth"]
    auth = sentry_auth(received.headers["x-sentry-auth"])
    assert auth["sentry_key"] == SENTRY_KEY and auth["sentry_client"] == "hookrouter/0.1"
    assert_secret_only_in(received, SENTRY_KEY, header="x-sentry-auth")
    if endpoint.endswith("/store/"):
        check_sentry_event(json.loads(received.body), event)
    else:
        assert received.headers["content-type"] == "application/x-sentry-envelope"
        check_sentry_event(json.loads(received.body.split(b"\n")[2]), event)


def test_the_ingest_url_and_the_dsn_it_was_built_from_send_the_same_request() -> None:
    dsn = destination(
        template="sentry", url=SecretStr(f"https://{SENTRY_KEY}@o535635.ingest.sentry.io/4504082601017344")
    )
    ingest = destination(
        template="sentry",
        url=SecretStr(INGEST_URL),
        headers={"X-Sentry-Auth": SecretStr(f"Sentry sentry_key={SENTRY_KEY}")},
    )
    assert render(dsn, SAMPLE_EVENT, now=1.0) == render(ingest, SAMPLE_EVENT, now=1.0)
    assert render(ingest, SAMPLE_EVENT, now=1.0).url == INGEST_URL


@pytest.mark.parametrize(
    ("url", "headers", "options", "problem"),
    [
        (INGEST_URL, {}, {}, "header X-Sentry-Auth"),  # no key anywhere
        (INGEST_URL, {"X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=<Sentry Key>"}, {}, "Sentry DSN"),
        ("https://o1.ingest.sentry.io/api/42/minidump/", {"X-Sentry-Auth": SENTRY_KEY}, {}, "Ingest URL"),
        (INGEST_URL, {"X-Sentry-Auth": SENTRY_KEY}, {"endpoint": "envelope"}, "contradicts"),
    ],
)
def test_sentry_rejects_an_unusable_ingest_url(
    url: str, headers: dict[str, str], options: dict[str, str], problem: str
) -> None:
    sealed = {name: SecretStr(value) for name, value in headers.items()}
    with pytest.raises(RenderError, match=re.escape(problem)) as caught:
        validate(destination(template="sentry", url=SecretStr(url), headers=sealed, options=options))
    assert SENTRY_KEY not in str(caught.value)


def test_sentry_groups_by_workflow_and_dedupes_retries() -> None:
    dest = destination(template="sentry", url=SecretStr(f"https://{SENTRY_KEY}@o1.ingest.sentry.io/42"))
    first, other = failure(now=1_700_000_000.0), failure(now=1_700_000_100.0, execution="exec-2")
    once, again, second = (json.loads(render(dest, e, now=1.0).body) for e in (first, first, other))
    assert once["event_id"] == again["event_id"] != second["event_id"]
    assert once["fingerprint"] == second["fingerprint"]
    credential = credentials_failure(snapshot(), credential="cred-1", error="invalid_grant", now=1_700_000_000.0)
    assert json.loads(render(dest, credential, now=1.0).body)["fingerprint"] == [
        "hookrouter",
        "credentials_failure",
        "int-1",
    ]


def test_sentry_tag_values_are_one_short_line() -> None:
    dest = destination(template="sentry", url=SecretStr(f"https://{SENTRY_KEY}@o1.ingest.sentry.io/42"))
    event = {"type": "workflow_failure", "workflow": {"id": "wf\n1 " + "x" * 300}}
    workflow = json.loads(render(dest, event, now=1.0).body)["tags"]["workflow"]
    assert workflow.startswith("wf 1 x") and len(workflow) < 200 and "\n" not in workflow


@pytest.mark.parametrize(
    ("url", "options", "problem"),
    [
        ("https://o1.ingest.sentry.io/42", {}, "Sentry DSN"),  # no public key
        (f"https://{SENTRY_KEY}@o1.ingest.sentry.io/", {}, "Sentry DSN"),
        (f"https://{SENTRY_KEY}@o1.ingest.sentry.io/project", {}, "Sentry DSN"),
        (f"https://{SENTRY_KEY}@o1.ingest.sentry.io/42", {"endpoint": "minidump"}, "options.endpoint"),
        (f"https://{SENTRY_KEY}@o1.ingest.sentry.io/42", {"base_url": "https://u:p@proxy.example"}, "credentials"),
    ],
)
def test_sentry_rejects_bad_config(url: str, options: dict[str, str], problem: str) -> None:
    with pytest.raises(RenderError, match=re.escape(problem)) as caught:
        validate(destination(template="sentry", url=SecretStr(url), options=options))
    assert SENTRY_KEY not in str(caught.value)


def test_sentry_dsn_under_a_path() -> None:
    dest = destination(template="sentry", url=SecretStr(f"https://{SENTRY_KEY}@sentry.example.com:8443/sentry/7"))
    assert render(dest, SAMPLE_EVENT, now=0.0).url == "https://sentry.example.com:8443/sentry/api/7/store/"


# --- errors never carry secrets; render raises nothing but RenderError -----------------------------------

SECRET = "Sup3rS3cretValue"


@pytest.mark.parametrize(
    "fields",
    [
        {"url": SecretStr(f"https://{SECRET}:99999999/x")},
        {"url": SecretStr(f"https://h.example/{SECRET}"), "headers": {"X-Key": SecretStr(f"{SECRET}\n")}},
        {"url": SecretStr(f"https://h.example/{SECRET}"), "payload": "{{$.event"},
        {"template": "slack", "url": SecretStr(f"https://hooks.slack.example/{SECRET}")},
        {"template": "datadog", "headers": {"DD-API-KEY": SecretStr(SECRET)}, "options": {"site": "no"}},
        {"template": "datadog", "headers": {"DD-API-KEY": SecretStr(f"{SECRET}\u00e9")}},
        {"template": "newrelic", "headers": {"Api-Key": SecretStr(SECRET)}, "options": {"region": "x"}},
        {"template": "sentry", "url": SecretStr(f"https://{SECRET}@o1.ingest.sentry.io/x{SECRET}")},
        {"template": "sentry", "url": SecretStr(f"https://{SECRET}@[::1/1")},
    ],
)
def test_render_errors_carry_no_secret(fields: dict[str, Any]) -> None:
    with pytest.raises(RenderError) as caught:
        validate(destination(**fields))
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    # No chained exception either: a ValueError from urlsplit or httpx could quote the URL.
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None or caught.value.__suppress_context__


JSON_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
EVENT_KEYS = st.sampled_from(["type", "message", "timestamp", "project", "workflow", "integration", "user", "data"])
EVENTS = st.dictionaries(EVENT_KEYS | st.text(max_size=6), JSON_VALUES, max_size=8)
FRAGMENTS = st.sampled_from(
    ['{"a": ', "}", "{{$.event", "}}", '"', "{{ $.event.data.error }}", ".message", "[0]", "['k']", ",", "\\", "[", "]"]
)
TEMPLATES = st.none() | st.text(max_size=40) | st.lists(FRAGMENTS | st.text(max_size=5), max_size=12).map("".join)
OPTIONS = st.dictionaries(
    st.sampled_from(["site", "region", "endpoint", "service", "tags", "base_url", "environment"]),
    st.text(max_size=20)
    | st.sampled_from(["eu", "envelope", "us5.datadoghq.com", "https://proxy.example"])
    | st.text(max_size=12).map(lambda rest: "https://" + rest),
    max_size=3,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    template=st.sampled_from(["webhook", "slack", "datadog", "newrelic", "sentry"]),
    event=EVENTS,
    payload=TEMPLATES,
    options=OPTIONS,
)
def test_render_raises_only_render_error(
    template: str, event: dict[str, Any], payload: str | None, options: dict[str, str]
) -> None:
    urls = {
        "webhook": "https://h.example/x",
        "slack": "https://hooks.slack.com/services/T/B/X",
        "sentry": f"https://{SENTRY_KEY}@o1.ingest.sentry.io/42",
    }
    dest = destination(
        template=template,
        url=SecretStr(urls[template]) if template in urls else None,
        payload=payload,
        options=options,
        headers={"DD-API-KEY": SecretStr(DD_KEY), "Api-Key": SecretStr(NR_KEY)},
    )
    try:
        rendered = render(dest, event, now=1_700_000_000.0)
    except RenderError:
        return
    body = rendered.body if template != "sentry" or b"\n" not in rendered.body else rendered.body.split(b"\n")[2]
    json.loads(body)  # every body we send is JSON (an envelope's event line for Sentry)
    httpx.Request("POST", rendered.url, headers=rendered.headers, content=rendered.body)  # and httpx can send it
