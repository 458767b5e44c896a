"""Many receivers on one Redis: `serve --workers N` and separate `serve` processes, run as an operator would."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis

from router.storage.keys import Keys
from tests.router.conftest import MASTER_KEY
from tests.router.test_cli import EXAMPLE, ROOT, cli_env, free_port

pytestmark = pytest.mark.timeout(240)  # several processes each import the application: slow on a loaded machine

SECRET = b"quickstart-signing-secret"  # examples/quickstart.yaml's
PATH = "/webhook/triggers/connect/slack/slack-app"
ADMIN_TOKEN = "receivers-admin-token-for-tests-only-000"
PREFIX = "receivers"


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "router", *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, url: str, timeout_s: float = 120) -> dict[str, object]:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2)
                if ready.status_code == 200:
                    report: dict[str, object] = ready.json()
                    return report
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, f"{url} not ready:\n" + self.log.read_text()
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def env(redis_url: str, **extra: str) -> dict[str, str]:
    return cli_env(
        REDIS_URL=redis_url,
        HOOKROUTER_MASTER_KEY=MASTER_KEY,
        HOOKROUTER_PREFIX=PREFIX,
        HOOKROUTER_ADMIN_TOKEN=ADMIN_TOKEN,
        **extra,
    )


def signed(event_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0QUICKSTART",
            "event_id": event_id,
            "event": {"type": "message", "channel": "C1", "channel_type": "channel", "user": "U1", "text": "hi"},
        }
    ).encode()
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SECRET, b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"content-type": "application/json", "x-slack-request-timestamp": ts, "x-slack-signature": signature}


def send(url: str, event_id: str) -> list[str]:
    body, headers = signed(event_id)
    answer = httpx.post(url + PATH, content=body, headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["ids"]
    return ids


def routed(redis_url: str, expected: int, timeout_s: float = 60) -> list[str]:
    """The trigger jobs the quickstart workflow's stream holds once ``expected`` arrived (and a moment more)."""
    stream = Keys(PREFIX).triggers("wf-channel-message")
    with Redis.from_url(redis_url) as redis:
        deadline = time.monotonic() + timeout_s
        while redis.xlen(stream) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # a second routing of any event would land now
        return [entry_id.decode() for entry_id, _ in redis.xrange(stream)]


def test_two_receiver_processes_on_one_redis_store_and_route_each_event_once(
    redis_url: str, tmp_path: Path, processes: list[Process]
) -> None:
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for index, port in enumerate(ports):
        # Both route, each under its own consumer name: the consumer group hands each event to one of them.
        args = ["serve", "--host", "127.0.0.1", "--port", str(port)] + (["--apply", str(EXAMPLE)] if index == 0 else [])
        extra = {"HOOKROUTER_CONSUMER_NAME": f"receiver-{index}", "HOOKROUTER_PORT": "1"}  # --port wins
        processes.append(Process(args, env(redis_url, **extra), tmp_path / f"serve-{index}.log"))
        assert "routing" in processes[-1].wait_ready(urls[index])["tasks"]  # type: ignore[operator]

    stored: list[str] = []
    for n in range(10):
        stored += send(urls[n % 2], f"EvDistinct{n}")
    # A provider's retry of one delivery reaching the other receiver: one stored event, the same id.
    [first] = send(urls[0], "EvRetried")
    assert send(urls[1], "EvRetried") == [first]
    stored.append(first)

    assert len(set(stored)) == 11
    assert len(routed(redis_url, 11)) == 11
    with Redis.from_url(redis_url) as redis:
        assert redis.xlen(Keys(PREFIX).ingest) == 11


def test_serve_with_workers_runs_receivers_and_one_worker_process(
    redis_url: str, tmp_path: Path, processes: list[Process]
) -> None:
    with Redis.from_url(redis_url) as redis:
        redis.flushdb()
    port, health_port = free_port(), free_port()
    extra = {"HOOKROUTER_CONSUMER_NAME": "many", "HOOKROUTER_HEALTH_PORT": str(health_port)}
    args = ["serve", "--workers", "2", "--port", str(port), "--apply", str(EXAMPLE)]
    server = Process(args, env(redis_url, **extra), tmp_path / "serve.log")
    processes.append(server)
    url = f"http://127.0.0.1:{port}"
    # The receivers serve the webhooks and do not route; the one worker process routes.
    receiver = server.wait_ready(url)["tasks"]
    assert "routing" not in receiver and "registry-refresh" in receiver  # type: ignore[operator]
    assert "routing" in server.wait_ready(f"http://127.0.0.1:{health_port}")["tasks"]  # type: ignore[operator]

    stored = [entry for n in range(20) for entry in send(url, f"EvMany{n}")]
    assert len(set(stored)) == 20
    assert len(routed(redis_url, 20)) == 20
    # /metrics from any receiver adds up every process: both receivers' stored events, the worker's routing.
    exposition = httpx.get(f"{url}/metrics", timeout=10).text
    assert 'hookrouter_events_stored_total{integration="slack-app"} 20.0' in exposition
    assert 'hookrouter_events_routed_total{status="matched"} 20.0' in exposition
    assert 'hookrouter_loop_last_beat_timestamp_seconds{task="routing"}' in exposition

    # SIGTERM stops the receivers and the worker process; nothing is left behind.
    assert server.stop() == 0, server.log.read_text()
    log = server.log.read_text()
    assert log.count("Application startup complete") == 3, log  # two receivers and the worker process
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{health_port}/healthz", timeout=2)
