"""A throwaway Redis Cluster on 127.0.0.1: three masters, each with one replica, on ports the OS picked free.

Started once per test session (``tests/cluster/conftest.py``); tests may stop, freeze, fail over and reshard
its nodes, and ``heal`` brings it back to three answering masters with every slot served before the next test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from router.runtime.embedded import find_redis_server

SLOTS = 16384
START_S = 30.0


def _free_ports(count: int) -> list[int]:
    # Bound together, then released: the OS hands out distinct ports, and redis-server binds them a moment later.
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def cli(port: int, *args: str, timeout_s: float = 30.0) -> str:
    """``redis-cli -p port args...``'s output (raises if it fails)."""
    exe = find_redis_server().replace("redis-server", "redis-cli")
    done = subprocess.run(
        [exe, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args[:3])} failed: {done.stdout} {done.stderr}")
    return done.stdout


@dataclass
class Node:
    port: int
    bus_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    frozen: bool = False  # SIGSTOPped: alive, answering nothing

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            find_redis_server(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--cluster-enabled", "yes",
            "--cluster-port", str(self.bus_port),
            "--cluster-config-file", str(self.workdir / "nodes.conf"),
            # Short enough that a test sees a failover within seconds, long enough not to fire on a loaded machine.
            "--cluster-node-timeout", "2000",
            "--dir", str(self.workdir),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_S
        while not self.accepts():
            if self.proc.poll() is not None:
                pytest.fail(f"redis-server (cluster node {self.port}) exited with {self.proc.returncode}")
            if time.monotonic() > deadline:
                pytest.fail(f"cluster node {self.port} did not accept within {START_S} s")
            time.sleep(0.02)

    def accepts(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(("127.0.0.1", self.port))
            except OSError:
                return False
        return True

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and not self.frozen

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None:
            os.kill(self.proc.pid, sig)
            self.frozen = sig == signal.SIGSTOP or (self.frozen and sig != signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGCONT)  # a frozen node cannot act on SIGTERM
        self.frozen = False
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


@dataclass
class Cluster:
    nodes: list[Node] = field(default_factory=list)

    @classmethod
    def start(cls, workdir: Path, *, masters: int = 3, replicas: int = 1) -> Cluster:
        count = masters * (1 + replicas)
        ports = _free_ports(2 * count)
        cluster = cls([Node(ports[i], ports[count + i], workdir / f"node{i}") for i in range(count)])
        try:
            for node in cluster.nodes:
                node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in cluster.nodes]
            cli(cluster.nodes[0].port, "--cluster", "create", *addresses, "--cluster-replicas", str(replicas),
                "--cluster-yes", timeout_s=60)  # fmt: skip
            cluster.wait_ok()
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    def running(self) -> list[Node]:
        return [node for node in self.nodes if node.running]

    def masters(self) -> list[int]:
        """Ports of the masters that serve slots, as a running node sees them."""
        lines = cli(self.running()[0].port, "cluster", "nodes").splitlines()
        return sorted(
            int(line.split()[1].split(":")[1].split("@")[0])
            for line in lines
            if "master" in line.split()[2] and "fail" not in line.split()[2] and len(line.split()) > 8
        )

    def replica_of(self, master_port: int) -> Node:
        lines = cli(master_port, "cluster", "nodes").splitlines()
        master_id = next(line.split()[0] for line in lines if "myself" in line.split()[2])
        for line in lines:
            parts = line.split()
            if parts[3] == master_id and "fail" not in parts[2]:
                port = int(parts[1].split(":")[1].split("@")[0])
                return next(node for node in self.nodes if node.port == port)
        raise AssertionError(f"master {master_port} has no replica")

    def node(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def wait_ok(self, timeout_s: float = START_S) -> None:
        """Until every running node says ``cluster_state:ok``, agrees on three masters serving all slots, and every
        replica is in sync with its master."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if self._ok():
                    return
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"cluster not ok within {timeout_s} s")
            time.sleep(0.1)

    def _ok(self) -> bool:
        for node in self.running():
            info = cli(node.port, "cluster", "info")
            if "cluster_state:ok" not in info or f"cluster_slots_ok:{SLOTS}" not in info:
                return False
            # A replica that never synced with its master refuses to take over from it (its data is "too old").
            replication = cli(node.port, "info", "replication")
            if "role:slave" in replication and "master_link_status:up" not in replication:
                return False
        return len(self.masters()) == 3

    def heal(self) -> None:
        """Every node running again (a stopped one restarts from its config and rejoins), the cluster ok."""
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.signal(signal.SIGCONT)
            else:
                node.start()
        self.wait_ok(timeout_s=60)

    def flush(self) -> None:
        for port in self.masters():
            cli(port, "flushall")
            cli(port, "script", "flush")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def node_id(port: int) -> str:
    return cli(port, "cluster", "myid").strip()


def slot_of(port: int, key: str) -> int:
    return int(cli(port, "cluster", "keyslot", key).strip())


def owner_of(cluster: Cluster, slot: int) -> int:
    """Port of the master serving ``slot``, as the cluster sees it."""
    for line in cli(cluster.running()[0].port, "cluster", "nodes").splitlines():
        parts = line.split()
        if "master" not in parts[2] or "fail" in parts[2]:
            continue
        for span in parts[8:]:
            if span.startswith("["):
                continue  # a slot being migrated or imported, listed beside its ranges
            first, _, last = span.partition("-")
            if int(first) <= slot <= int(last or first):
                return int(parts[1].split(":")[1].split("@")[0])
    raise AssertionError(f"no master serves slot {slot}")


def migrate_slot(cluster: Cluster, slot: int, source: int, target: int, *, batch: int = 10) -> int:
    """Move ``slot`` from master ``source`` to master ``target`` the way ``redis-cli --cluster reshard`` does
    (SETSLOT IMPORTING/MIGRATING, MIGRATE in batches, SETSLOT NODE everywhere); returns the keys moved."""
    source_id, target_id = node_id(source), node_id(target)
    cli(target, "cluster", "setslot", str(slot), "importing", source_id)
    cli(source, "cluster", "setslot", str(slot), "migrating", target_id)
    moved = 0
    while keys := cli(source, "cluster", "getkeysinslot", str(slot), str(batch)).split():
        cli(source, "migrate", "127.0.0.1", str(target), "", "0", "5000", "keys", *keys)
        moved += len(keys)
        time.sleep(0.05)  # batches apart, so requests run between them (the "under load" of the test)
    for port in [target, source, *(p for p in cluster.masters() if p not in (source, target))]:
        cli(port, "cluster", "setslot", str(slot), "node", target_id)
    return moved
