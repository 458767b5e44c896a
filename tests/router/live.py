"""The app served by uvicorn on 127.0.0.1 with the options ``hookrouter serve`` passes it, for tests that need a
real server: a client other than httpx's ASGI transport (Schemathesis, the README's snippets) talks to it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from router.app import create_app
from router.cli.main import server_options
from router.settings import Settings

START_S = 10.0  # far above what starting takes, so a loaded machine cannot fail it


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The app (its lifespan run) on a free port of 127.0.0.1; yields its base URL, ``http://127.0.0.1:<port>``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port: int = sock.getsockname()[1]
    # log_config=None: the CLI's logging setup is for the process, not for the test run.
    options = server_options(settings, port) | {"log_config": None, "log_level": "warning"}
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **options, timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=START_S)
        sock.close()
