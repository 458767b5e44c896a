"""Bounds of the HTTP layer, against the real app served by uvicorn with ``server_options`` (raw sockets).

Timings here are bounds far from the configured values (a 0.5 s timeout must cut a sender off well within
10 s), so a loaded machine cannot fail them; measured figures are in bench/bounded.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from pydantic import ValidationError
from redis.asyncio import Redis

from router.settings import Settings
from tests.router import live
from tests.router.conftest import SLACK_URL, make_registry, make_seed, make_settings

GENEROUS_S = 10.0  # far above every timeout configured here


@contextlib.contextmanager
def serve(redis_url: str, **overrides: Any) -> Iterator[int]:
    """The app on 127.0.0.1 with the options ``hookrouter serve`` uses; yields the port."""
    with live.serve(make_settings(redis_url, **overrides)) as base:
        yield int(base.rsplit(":", 1)[1])


def read_response(conn: socket.socket, timeout_s: float = GENEROUS_S) -> bytes:
    """Everything the server sends until it closes, or what came within the timeout."""
    conn.settimeout(timeout_s)
    received = b""
    with contextlib.suppress(TimeoutError, ConnectionResetError):
        while chunk := conn.recv(65536):
            received += chunk
    return received


def status_and_error(response: bytes) -> tuple[int, str]:
    head, _, body = response.partition(b"\r\n\r\n")
    if not head:
        return 0, ""
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body).get("error", "") if body.startswith(b"{") else ""


def request_head(headers: int = 2, value_bytes: int = 10, *, close: bool = True) -> bytes:
    """A GET /healthz head with ``headers`` headers in all (Host, then Connection unless kept alive, then X-H<n>)."""
    lines = ["GET /healthz HTTP/1.1", "Host: hooks.test"] + (["Connection: close"] if close else [])
    lines += [f"X-H{n}: {'v' * value_bytes}" for n in range(headers - len(lines) + 1)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(port: int, data: bytes) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(data)
        return status_and_error(read_response(conn))


def test_a_huge_header_is_431(redis_url: str) -> None:
    with serve(redis_url, max_header_bytes=8192) as port:
        assert exchange(port, request_head(value_bytes=100)) == (200, "")
        assert exchange(port, request_head(headers=3, value_bytes=20_000)) == (431, "headers_too_large")


def test_too_many_headers_is_431(redis_url: str) -> None:
    with serve(redis_url, max_headers=10) as port:
        assert exchange(port, request_head(headers=10)) == (200, "")
        assert exchange(port, request_head(headers=11)) == (431, "too_many_headers")


def test_a_pipelined_head_over_a_bound_never_corrupts_the_response_before_it(redis_url: str) -> None:
    with serve(redis_url, max_headers=10) as port, socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(request_head(close=False) + request_head(headers=11))
        received = read_response(conn)
    responses = received.split(b"HTTP/1.1 ")[1:]
    # The first is answered whole; the second is refused after it (when it was read after the first response
    # went out) or the connection simply closes after the first (when it was read while that was in progress).
    assert [int(r[:3]) for r in responses] in ([200], [200, 431])
    assert responses[0].endswith(b'{"status":"ok"}')


def flood_48_mib_header(port: int) -> tuple[int, str]:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            conn.sendall(b"GET / HTTP/1.1\r\nHost: hooks.test\r\nX-Big: ")
            for _ in range(48):
                conn.sendall(b"a" * (1024 * 1024))
        return status_and_error(read_response(conn))


def test_healthz_is_served_while_48_mib_headers_flood_in(redis_url: str) -> None:
    with serve(redis_url, max_header_bytes=65536) as port:
        latencies: list[float] = []
        statuses: list[int] = []
        flooding = threading.Event()
        stop = threading.Event()

        def poll() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=GENEROUS_S) as client:
                while not stop.is_set():
                    start = time.monotonic()
                    status = client.get("/healthz").status_code
                    if flooding.is_set():
                        statuses.append(status)
                        latencies.append(time.monotonic() - start)
                    time.sleep(0.02)

        poller = threading.Thread(target=poll)
        poller.start()
        floods: list[tuple[int, str]] = []
        try:
            flooding.set()
            until = time.monotonic() + 2.0
            # One flood after another for a while, and until /healthz was asked during them a few times.
            while time.monotonic() < until or (len(statuses) < 3 and time.monotonic() < until + GENEROUS_S):
                floods.append(flood_48_mib_header(port))
        finally:
            stop.set()
            poller.join()
    assert set(floods) == {(431, "headers_too_large")}  # each refused after 64 KiB, not parsed to its end
    assert set(statuses) == {200}
    assert max(latencies) < GENEROUS_S / 2


def test_a_slowloris_head_is_cut_off_with_408(redis_url: str) -> None:
    with serve(redis_url, header_timeout_s=0.5) as port, socket.create_connection(("127.0.0.1", port)) as conn:
        start = time.monotonic()
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: hooks.test\r\n")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(int(GENEROUS_S / 0.1)):  # one byte of a header every 0.1 s: never finishing in time
                conn.sendall(b"X")
                conn.settimeout(0.1)
                with contextlib.suppress(TimeoutError):
                    if conn.recv(1, socket.MSG_PEEK):
                        break
        answer = status_and_error(read_response(conn))
        elapsed = time.monotonic() - start
    assert answer == (408, "request_timeout")
    assert 0.4 < elapsed < GENEROUS_S / 2


def seed_slack_integration(redis_url: str) -> None:
    async def seed() -> None:
        redis = Redis.from_url(redis_url)
        try:
            await redis.flushdb()
            await make_seed(make_registry(redis))(integration=[{"id": "slack-app", "type": "slack", "secrets": ["s"]}])
        finally:
            await redis.aclose()

    asyncio.run(seed())


def test_a_slow_body_is_cut_off_with_408_and_a_prompt_one_is_not(redis_url: str) -> None:
    seed_slack_integration(redis_url)  # a known integration: its body is read before anything is answered
    head = f"POST {SLACK_URL} HTTP/1.1\r\nHost: hooks.test\r\nContent-Length: 1000\r\n\r\n".encode()
    prompt = head.replace(b"Content-Length: 1000", b"Content-Length: 2") + b"{}"
    with serve(redis_url, header_timeout_s=0.5, body_timeout_s=0.5) as port:
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(prompt)
            time.sleep(1.0)  # idle past both timeouts between requests: only keep-alive's own timer applies
            conn.sendall(request_head(close=False) + request_head())  # two pipelined requests
            statuses = [int(part[:3]) for part in read_response(conn).split(b"HTTP/1.1 ")[1:]]
        assert statuses == [401, 200, 200]  # unsigned, then both answered
        with socket.create_connection(("127.0.0.1", port)) as conn:
            start = time.monotonic()
            conn.sendall(head)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                for _ in range(int(GENEROUS_S / 0.1)):  # one byte every 0.1 s: 100 s for the whole body
                    conn.sendall(b"x")
                    conn.settimeout(0.1)
                    with contextlib.suppress(TimeoutError):
                        if conn.recv(1, socket.MSG_PEEK):
                            break
            answer = status_and_error(read_response(conn))
            elapsed = time.monotonic() - start
    assert answer == (408, "request_timeout")
    assert 0.4 < elapsed < GENEROUS_S / 2


def test_connections_beyond_the_limit_get_503_until_one_closes(redis_url: str) -> None:
    with serve(redis_url, max_connections=2, header_timeout_s=GENEROUS_S) as port:
        first = socket.create_connection(("127.0.0.1", port))
        second = socket.create_connection(("127.0.0.1", port))
        try:
            with socket.create_connection(("127.0.0.1", port)) as third:
                response = read_response(third)
            assert status_and_error(response) == (503, "overloaded")
            assert b"\r\nretry-after: 1\r\n" in response
            first.close()
            deadline = time.monotonic() + GENEROUS_S
            while (answer := exchange(port, request_head())) != (200, ""):
                assert time.monotonic() < deadline, answer
                time.sleep(0.05)
        finally:
            first.close()
            second.close()


@hyp_settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.integers(3, 20), value_bytes=st.integers(0, 700))
def test_the_head_is_answered_431_exactly_when_over_a_limit(redis_url: str, headers: int, value_bytes: int) -> None:
    with serve(redis_url, max_headers=10, max_header_bytes=4096) as port:
        head = request_head(headers, value_bytes)
        status, error = exchange(port, head)
    if headers > 10 and len(head) <= 4096:
        assert (status, error) == (431, "too_many_headers")
    elif len(head) > 4096:
        assert (status, error) in {(431, "headers_too_large"), (431, "too_many_headers")}
    else:
        assert (status, error) == (200, "")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_header_bytes", 0),
        ("max_headers", 0),
        ("header_timeout_s", 0),
        ("body_timeout_s", -1),
        ("max_connections", 0),
    ],
)
def test_bounds_that_would_refuse_everything_fail_at_startup(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, name: str, value: int
) -> None:
    monkeypatch.setenv(f"HOOKROUTER_{name.upper()}", str(value))
    with pytest.raises(ValidationError, match=name):
        Settings(redis_url=redis_url)
