"""The receiver's own CPU per webhook, with no sockets or wrk: the application driven on ASGI scopes in-process.

    python -m bench.ingest_app [--requests 8000] [--concurrency 50] [--runs 3] [--body-bytes 1024]

(a) bench/bare_app.py's application, (b) ``create_app`` with routing off, backed by a throwaway redis-server on a
unix socket (never a shared Redis), its log lines written as ``hookrouter serve`` writes them (to /dev/null).
Both get the same Slack-signed request, ``--concurrency`` at a time. Prints the process's CPU per request, best
of ``--runs`` (the least noisy figure of a shared machine), and the ratio. Wrap it in py-spy for a profile:
``py-spy record -f raw -o /tmp/app.txt -- python -m bench.ingest_app``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from redis.asyncio import Redis

from bench import bare_app
from bench.ingest import CONFIG, INTEGRATION_ID, PATH, TEAM_ID, Processes, slack_body, slack_signature, start_redis
from router import logs
from router.app import create_app
from router.settings import Settings
from subscriptions.config import apply, load
from subscriptions.crypto import SecretBox
from subscriptions.registry import Registry


async def drive(app: Any, headers: list[tuple[bytes, bytes]], body: bytes, requests: int, concurrency: int) -> float:
    """CPU seconds the process spent answering ``requests`` POSTs, ``concurrency`` at a time (all must be 200)."""

    async def one() -> int:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await app(scope, receive, send)
        return status

    async def worker(n: int) -> None:
        for _ in range(n):
            status = await one()
            if status != 200:
                raise SystemExit(f"a request got {status}")

    per, extra = divmod(requests, concurrency)
    started = time.process_time()
    await asyncio.gather(*(worker(per + (i < extra)) for i in range(concurrency)))
    return time.process_time() - started


async def main_async(args: argparse.Namespace) -> None:
    body = slack_body(args.body_bytes)
    secret = secrets.token_hex(16)
    timestamp = str(int(time.time()))
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-slack-request-timestamp", timestamp.encode()),
        (b"x-slack-signature", slack_signature(secret, timestamp, body).encode()),
    ]
    with tempfile.TemporaryDirectory() as tmp, Processes(Path(tmp)) as procs:
        sock, _ = start_redis(procs, Path(tmp))
        master = secrets.token_bytes(32)
        settings = Settings(
            redis_url=f"unix://{sock}",
            master_key=SecretStr(base64.b64encode(master).decode()),
            admin_token=SecretStr(secrets.token_urlsafe(24)),
            run_workers=False,
            dedup_window_s=0,  # one body replayed: every request a real append, as bench/ingest.py runs it
            data_dir=Path(tmp),
        )
        redis = Redis(unix_socket_path=str(sock))
        config = Path(tmp) / "config.yaml"
        config.write_text(CONFIG.format(integration=INTEGRATION_ID, secret=secret, team=TEAM_ID))
        await apply(Registry(redis, SecretBox(master)), load(config))
        await redis.aclose()
        app = create_app(settings)
        async with LifespanManager(app) as manager:
            results: dict[str, list[float]] = {"bare": [], "ingest": []}
            for _ in range(args.runs):
                for name, target in (("bare", bare_app.app), ("ingest", manager.app)):
                    seconds = await drive(target, headers, body, args.requests, args.concurrency)
                    results[name].append(seconds * 1e6 / args.requests)
        bare, ingest = min(results["bare"]), min(results["ingest"])
        print(f"bare   CPU/request: {bare:6.1f} µs  (runs: {', '.join(f'{v:.1f}' for v in results['bare'])})")
        print(f"ingest CPU/request: {ingest:6.1f} µs  (runs: {', '.join(f'{v:.1f}' for v in results['ingest'])})")
        print(f"ratio: {ingest / bare:.1f}×")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--body-bytes", type=int, default=1024)
    args = parser.parse_args(argv)
    logs.setup("INFO")
    devnull = open(os.devnull, "w")  # noqa: SIM115 - for the process's life
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(devnull)
    asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
