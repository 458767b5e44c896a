from __future__ import annotations

import asyncio
import email.utils
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

import verifiers
from router.delivery.attempt import Attempt, attempt, error_class, post_signed
from router.delivery.retry import Verdict
from router.delivery.signing import generate_secret, secret_key, sign_headers
from router.egress.policy import EgressPolicy
from router.egress.transport import guarded_client
from tests.router.loopback import HttpSink, Reply, http_sink, raw_server, read_request_head, refused_url

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000.0
TIMEOUT_S = 0.5
MARGIN_S = 0.4  # scheduling slack on a loaded CI machine

# Published example from the Standard Webhooks reference libraries.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def fixed_now() -> float:
    return NOW


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # follow_redirects=True on purpose: attempt() must not follow them even when the shared client would.
    async with httpx.AsyncClient(follow_redirects=True) as client:
        yield client


@pytest.fixture(scope="module")
def shared_sink() -> Iterator[HttpSink]:
    with http_sink() as running:
        yield running


@pytest.fixture
def sink(shared_sink: HttpSink) -> HttpSink:
    """One server for the module (starting uvicorn costs ~0.2 s), a clean script per test."""
    shared_sink.reset()
    return shared_sink


async def post(http: httpx.AsyncClient, url: str, *, timeout_s: float = TIMEOUT_S) -> Attempt:
    return await attempt(http, url=url, body=b'{"a":1}', headers={}, timeout_s=timeout_s, now=fixed_now)


# --- signing ---------------------------------------------------------------------------------------


def test_published_vector() -> None:
    headers = sign_headers(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [VECTOR_SECRET])
    assert headers == {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS), "webhook-signature": VECTOR_SIG}


def test_our_verifier_accepts_our_signatures() -> None:
    old, new = generate_secret(), generate_secret()
    headers = sign_headers("msg_1", VECTOR_TS, VECTOR_BODY, [new, old])
    entries = headers["webhook-signature"].split(" ")
    assert len(entries) == 2 and all(e.startswith("v1,") for e in entries)
    for secret in (old, new):  # a receiver holding either secret during the rotation accepts it
        verifiers.verify("standard_webhooks", secrets=[secret], headers=headers, body=VECTOR_BODY, now=VECTOR_TS)
    with pytest.raises(verifiers.SignatureMismatch):
        verifiers.verify(
            "standard_webhooks", secrets=[generate_secret()], headers=headers, body=VECTOR_BODY, now=VECTOR_TS
        )
    with pytest.raises(verifiers.SignatureMismatch):
        verifiers.verify("standard_webhooks", secrets=[new], headers=headers, body=VECTOR_BODY + b" ", now=VECTOR_TS)


def test_duplicate_secret_signs_once() -> None:
    headers = sign_headers(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [VECTOR_SECRET, VECTOR_SECRET])
    assert headers["webhook-signature"] == VECTOR_SIG


def test_generated_secrets_are_distinct_32_byte_keys() -> None:
    a, b = generate_secret(), generate_secret()
    assert a != b and a.startswith("whsec_")
    assert len(secret_key(a)) == 32


@pytest.mark.parametrize("secret", ["", "whsec_", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whpk_AAAA"])
def test_bad_secret_is_rejected(secret: str) -> None:
    with pytest.raises(ValueError):
        sign_headers(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [secret])


@pytest.mark.parametrize("msg_id", ["", "msg 1", "msg\r\nx-evil: 1", "msg_é"])
def test_bad_message_id_is_rejected(msg_id: str) -> None:
    with pytest.raises(ValueError):
        sign_headers(msg_id, VECTOR_TS, VECTOR_BODY, [VECTOR_SECRET])


def test_secrets_must_be_a_sequence_of_secrets() -> None:
    with pytest.raises(ValueError):
        sign_headers(VECTOR_ID, VECTOR_TS, VECTOR_BODY, [])
    with pytest.raises(TypeError):
        sign_headers(VECTOR_ID, VECTOR_TS, VECTOR_BODY, VECTOR_SECRET)


# --- attempts against a loopback target --------------------------------------------------------------


async def test_success(http: httpx.AsyncClient, sink: HttpSink) -> None:
    sink.script(Reply(200, body=b"ok"))
    result = await post(http, sink.url())
    got = sink.received
    assert result.verdict is Verdict.SUCCESS
    assert (result.status, result.error_class, result.retry_after_s, result.at) == (200, None, None, NOW)
    assert result.duration_ms > 0
    assert len(got) == 1 and got[0].method == "POST" and got[0].body == b'{"a":1}'
    assert got[0].headers["content-type"] == "application/json"


async def test_server_error_then_success(http: httpx.AsyncClient, sink: HttpSink) -> None:
    sink.script(500, 200)
    first = await post(http, sink.url())
    second = await post(http, sink.url())
    assert len(sink.received) == 2
    assert (first.status, first.verdict, first.error_class) == (500, Verdict.RETRY, "http_status")
    assert (second.status, second.verdict) == (200, Verdict.SUCCESS)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (400, Verdict.FAIL),
        (401, Verdict.FAIL),
        (404, Verdict.FAIL),
        (408, Verdict.RETRY),
        (409, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (410, Verdict.DISABLE),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
    ],
)
async def test_status_verdicts(http: httpx.AsyncClient, sink: HttpSink, status: int, verdict: Verdict) -> None:
    sink.script(status)
    result = await post(http, sink.url())
    assert (result.status, result.verdict, result.error_class) == (status, verdict, "http_status")


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        ("3", 3.0),
        (email.utils.formatdate(NOW + 120, usegmt=True), 120.0),
        ("whenever", None),
    ],
)
async def test_retry_after_is_parsed(
    http: httpx.AsyncClient, sink: HttpSink, retry_after: str, expected: float | None
) -> None:
    sink.script(Reply(429, headers={"retry-after": retry_after}))
    result = await post(http, sink.url())
    assert (result.status, result.verdict, result.retry_after_s) == (429, Verdict.RETRY, expected)


async def test_redirect_is_not_followed(http: httpx.AsyncClient) -> None:
    with http_sink(Reply(307, headers={"location": "/elsewhere"})) as sink:
        result = await post(http, sink.url())
        got = sink.received
    assert (result.status, result.verdict) == (307, Verdict.FAIL)
    assert [r.path for r in got] == ["/hook"]


@pytest.fixture(params=["httpx", "guarded"])
async def either(request: pytest.FixtureRequest, http: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """httpx's own client, and the worker's (the egress guard over aiohttp's pool, loopback allowed). An attempt
    sends its request without per-phase timeouts: its own deadline must stop a frozen target through both."""
    if request.param == "httpx":
        yield http
        return
    async with guarded_client(EgressPolicy.parse("127.0.0.0/8,::1")) as guarded:
        yield guarded


async def test_stalled_target_times_out(either: httpx.AsyncClient) -> None:
    http = either
    with http_sink(Reply(200, delay_s=5)) as sink:
        started = time.monotonic()
        result = await post(http, sink.url())
        elapsed = time.monotonic() - started
    assert (result.status, result.error_class, result.verdict) == (None, "timeout", Verdict.RETRY)
    assert TIMEOUT_S - 0.05 <= elapsed < TIMEOUT_S + MARGIN_S
    assert result.duration_ms < (TIMEOUT_S + MARGIN_S) * 1000


async def test_dripping_status_line_hits_the_hard_cap(either: httpx.AsyncClient) -> None:
    # Each byte arrives well within httpx's per-read timeout; only the total cap can stop this.
    def drip(conn: socket.socket) -> None:
        read_request_head(conn)
        for byte in b"HTTP/1.1 200 OK\r\nx-padding: " + b"a" * 200:
            conn.sendall(bytes([byte]))
            time.sleep(0.05)

    with raw_server(drip) as base:
        started = time.monotonic()
        result = await post(either, base + "/hook")
        elapsed = time.monotonic() - started
    assert (result.error_class, result.verdict) == ("timeout", Verdict.RETRY)
    assert elapsed < TIMEOUT_S + MARGIN_S


async def test_dripping_body_does_not_outlast_the_cap(either: httpx.AsyncClient) -> None:
    http = either
    # The status arrived, so it decides; the body is read only until the deadline.
    with http_sink(Reply(200, body=b"x" * 100, drip_s=0.05)) as sink:
        started = time.monotonic()
        result = await post(http, sink.url())
        elapsed = time.monotonic() - started
    assert (result.status, result.verdict) == (200, Verdict.SUCCESS)
    assert elapsed < TIMEOUT_S + MARGIN_S


async def test_large_body_is_not_read_whole(http: httpx.AsyncClient) -> None:
    with http_sink(Reply(500, body=b"x" * (8 * 1024 * 1024))) as sink:
        result = await post(http, sink.url(), timeout_s=5)
    assert (result.status, result.verdict) == (500, Verdict.RETRY)


async def test_connection_refused(http: httpx.AsyncClient) -> None:
    result = await post(http, refused_url())
    assert (result.status, result.error_class, result.verdict) == (None, "connect_error", Verdict.RETRY)


async def test_closed_without_answer(http: httpx.AsyncClient) -> None:
    with raw_server(read_request_head) as base:  # reads the request, then hangs up
        result = await post(http, base + "/hook")
    # Which error the client sees depends on how far it got when the socket closed; all of them are retried.
    assert result.status is None and result.verdict is Verdict.RETRY
    assert result.error_class in {"protocol_error", "read_error", "write_error"}


@pytest.mark.parametrize(
    ("url", "error"), [("ftp://127.0.0.1/hook", "unsupported_protocol"), ("http://[::1/hook", "invalid_url")]
)
async def test_unsendable_url_fails(http: httpx.AsyncClient, url: str, error: str) -> None:
    result = await post(http, url)
    assert (result.status, result.error_class, result.verdict) == (None, error, Verdict.FAIL)


async def test_signed_headers_arrive_and_verify(http: httpx.AsyncClient) -> None:
    secret = generate_secret()
    body = b'{"type":"order.created","id":7}'
    now = time.time()
    with http_sink(204) as sink:
        result = await post_signed(
            http,
            url=sink.url(),
            body=body,
            msg_id="dlv_01",
            secrets=[secret, generate_secret()],
            timeout_s=2,
            now=lambda: now,
            headers={"user-agent": "hookrouter-test", "content-type": "application/cloudevents+json"},
        )
        (got,) = sink.received
    assert result.verdict is Verdict.SUCCESS
    assert got.body == body
    assert got.headers["webhook-id"] == "dlv_01"
    assert got.headers["webhook-timestamp"] == str(int(now))
    assert got.headers["user-agent"] == "hookrouter-test"
    assert got.headers["content-type"] == "application/cloudevents+json"  # the caller's wins over the default
    verifiers.verify("standard_webhooks", secrets=[secret], headers=got.headers, body=got.body, now=time.time())


async def test_cancellation_propagates(http: httpx.AsyncClient) -> None:
    with http_sink(Reply(200, delay_s=5)) as sink:
        task = asyncio.create_task(post(http, sink.url(), timeout_s=10))
        await sink.received_async(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_bad_timeout_is_our_bug(http: httpx.AsyncClient) -> None:
    for timeout_s in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            await post(http, "http://127.0.0.1/", timeout_s=timeout_s)


# --- the attempt record ------------------------------------------------------------------------------


def test_attempt_round_trips_through_json() -> None:
    for record in (
        Attempt(NOW, 429, 12.5, "http_status", 3.0, Verdict.RETRY),
        Attempt(NOW, None, 500.0, "timeout", None, Verdict.RETRY),
        Attempt(NOW, 200, 1.0, None, None, Verdict.SUCCESS),
    ):
        text = record.to_json()
        assert json.loads(text)["verdict"] == record.verdict.value
        assert Attempt.from_json(text) == record
        assert Attempt.from_json(text.encode()) == record
        # The dict a job's history keeps is what the JSON reads back as, plain values only.
        assert record.record() == json.loads(text) and type(record.record()["verdict"]) is str


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        '{"at": 1}',
        "not json",
        '{"at":1,"status":null,"duration_ms":1,"error_class":null,"retry_after_s":null,"verdict":"maybe"}',
    ],
)
def test_attempt_from_json_rejects_junk(text: str) -> None:
    with pytest.raises(ValueError):
        Attempt.from_json(text)


@pytest.mark.parametrize(
    ("error", "name"),
    [
        (httpx.ConnectTimeout("x"), "timeout"),
        (httpx.PoolTimeout("x"), "timeout"),
        (TimeoutError(), "timeout"),
        (httpx.ConnectError("x"), "connect_error"),
        (httpx.ReadError("x"), "read_error"),
        (httpx.WriteError("x"), "write_error"),
        (httpx.RemoteProtocolError("x"), "protocol_error"),
        (httpx.ProxyError("x"), "proxy_error"),
        (httpx.LocalProtocolError("x"), "transport_error"),
    ],
)
def test_error_class_names(error: BaseException, name: str) -> None:
    assert error_class(error) == name
