"""What hostile requests cost a real ``hookrouter serve``: header floods, slow senders, unsigned big bodies.

    python bench/bounded.py [--source CHECKOUT] [--cap-s 40]

Starts a throwaway redis-server and ``python -m router serve`` (from ``--source``, default this checkout,
so another checkout's figures come from the same script), then measures over 127.0.0.1:

- /healthz latency (max of polls every 50 ms) while one client sends a 48 MiB header, against idle;
- how long a slowloris connection (one header byte a second) and a slow body (one body byte a second)
  stay open, capped at ``--cap-s``;
- the server's CPU time and peak RSS growth for one 7 MiB unsigned Notion-shaped handshake body.
"""

from __future__ import annotations

import argparse
import base64
import os
import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from ingest import BenchError, Processes, free_port, start_redis, wait_healthy  # type: ignore[import-not-found]

CONFIG = """\
project: {id: bench, name: Bounded bench}
integrations:
  - {id: bench-notion, type: notion, secrets: ["notion-secret"]}
"""
NOTION_PATH = "/webhook/triggers/connect/notion/bench-notion"


def _proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and peak RSS in KiB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    hwm = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmHWM"))
    return cpu, int(hwm.split()[1])


def _healthz_max_ms(base: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            start = time.perf_counter()
            try:
                client.get(base + "/healthz")
            except httpx.HTTPError:
                out.append(float("inf"))
            else:
                out.append((time.perf_counter() - start) * 1000)
            time.sleep(0.05)


def header_flood(port: int, base: str) -> tuple[float, float]:
    """Max /healthz latency (ms) idle, and while a 48 MiB header is being sent."""
    idle: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_healthz_max_ms, args=(base, stop, idle))
    poller.start()
    time.sleep(1)
    stop.set()
    poller.join()
    during: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_healthz_max_ms, args=(base, stop, during))
    poller.start()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * (1024 * 1024)
        try:
            for _ in range(48):
                sock.sendall(chunk)
            sock.sendall(b"\r\n\r\n")
            sock.settimeout(30)
            sock.recv(1024)
        except OSError:
            pass  # the server answered and closed early: what a bounded server does
    time.sleep(0.5)
    stop.set()
    poller.join()
    return max(idle), max(during)


def slow_sender(port: int, head: bytes, drip: bytes, cap_s: float) -> float:
    """Seconds until the server closes a connection that sends ``head`` then one byte of ``drip`` a second."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        sock.settimeout(1.0)
        for byte in drip:
            if time.monotonic() - start > cap_s:
                return cap_s
            try:
                if sock.recv(4096) == b"":
                    break
            except TimeoutError:
                pass
            except OSError:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
    return time.monotonic() - start


def big_handshake(pid: int, base: str) -> tuple[int, float, float]:
    """Status, server CPU seconds and peak RSS growth (MiB) for one 7 MiB unsigned Notion-shaped body."""
    # Many small objects, the costly shape to parse: ~700,000 dicts in 7 MiB.
    items = ',{"k":"v"}' * (7 * 1024 * 1024 // 10)
    body = b'{"verification_token":"secret_x","items":[{"k":"v"}' + items.encode() + b"]}"
    cpu0, hwm0 = _proc_stats(pid)
    status = httpx.post(base + NOTION_PATH, content=body, timeout=60).status_code
    time.sleep(0.2)
    cpu1, hwm1 = _proc_stats(pid)
    return status, cpu1 - cpu0, (hwm1 - hwm0) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--cap-s", type=float, default=40.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Processes(Path(tmp)) as procs:
        work = Path(tmp)
        redis_sock, _ = start_redis(procs, work)
        (work / "config.yaml").write_text(CONFIG)
        port = free_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(args.source),
            "HOOKROUTER_REDIS_URL": f"unix://{redis_sock}",
            "HOOKROUTER_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "HOOKROUTER_PORT": str(port),
            "HOOKROUTER_RUN_WORKERS": "false",
            "HOOKROUTER_LOG_LEVEL": "WARNING",
        }
        command = [sys.executable, "-m", "router", "serve", "--apply", str(work / "config.yaml")]
        server = procs.start("serve", command, env=env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(procs, "serve", server, base)
        status, cpu_s, rss_mib = big_handshake(server.pid, base)  # first: the flood below raises the peak RSS
        print(f"7 MiB unsigned Notion-shaped body: {status}, server CPU {cpu_s:.2f} s, peak RSS +{rss_mib:.0f} MiB")
        idle_ms, flood_ms = header_flood(port, base)
        print(f"/healthz max latency: idle {idle_ms:.0f} ms, during a 48 MiB header {flood_ms:.0f} ms")
        slowloris = slow_sender(port, b"GET /healthz HTTP/1.1\r\n", b"X-a: b\r\n" * 100, args.cap_s)
        print(f"slowloris head (1 byte/s): connection open {slowloris:.1f} s (cap {args.cap_s:.0f} s)")
        head = b"POST " + NOTION_PATH.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        slow_body = slow_sender(port, head, b"x" * 1000, args.cap_s)
        print(f"slow body (1 byte/s): connection open {slow_body:.1f} s (cap {args.cap_s:.0f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
