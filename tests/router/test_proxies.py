"""X-Forwarded-For and -Proto are believed only from HOOKROUTER_TRUSTED_PROXIES, through uvicorn itself.

Each test runs uvicorn on 127.0.0.1 with the options ``hookrouter serve`` passes it, so the peer is the
loopback address: trusted only when the setting names it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from router.cli.main import proxy_options
from router.ingress.public_url import signed_url
from router.ingress.webhooks import client_address
from router.settings import Settings


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse(
        {"client": client_address(request), "scheme": request.url.scheme, "url": signed_url(request, "https://h.test")}
    )


@contextlib.contextmanager
def serving(settings: Settings) -> Iterator[str]:
    app = Starlette(routes=[Route("/{path:path}", _echo, methods=["GET", "POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", **proxy_options(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()


FORWARDED = {"x-forwarded-for": "203.0.113.7", "x-forwarded-proto": "https", "x-forwarded-host": "evil.example"}


@pytest.mark.parametrize("trusted", ["", "10.0.0.0/8", "192.168.1.1,::1/128"])
def test_proxy_headers_are_ignored_from_an_untrusted_peer(trusted: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn's own default would trust loopback, or whatever $FORWARDED_ALLOW_IPS says: "*" here.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    with serving(Settings(trusted_proxies=trusted)) as base:
        seen = httpx.get(base + "/webhook/x%40y?q=1", headers=FORWARDED).json()
    assert seen == {"client": "127.0.0.1", "scheme": "http", "url": "https://h.test/webhook/x%40y?q=1"}


@pytest.mark.parametrize("trusted", ["127.0.0.1", "127.0.0.0/8", " 10.1.2.3 , 127.0.0.1/32"])
def test_proxy_headers_are_believed_from_a_trusted_proxy(trusted: str) -> None:
    with serving(Settings(trusted_proxies=trusted)) as base:
        seen = httpx.get(base + "/webhook/x%40y", headers=FORWARDED).json()
    # The client address and scheme come from the proxy; the signed URL still never takes its host.
    assert seen == {"client": "203.0.113.7", "scheme": "https", "url": "https://h.test/webhook/x%40y"}


def test_proxy_options() -> None:
    assert proxy_options(Settings()) == {"proxy_headers": False, "forwarded_allow_ips": ""}
    options = proxy_options(Settings(trusted_proxies="10.0.0.1/8, 2001:db8::1"))
    assert options == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8,2001:db8::1/128"}


@pytest.mark.parametrize("bad", ["*", "proxy.internal", "10.0.0.0/33", "127.0.0.1,*"])
def test_anything_but_addresses_and_networks_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="HOOKROUTER_TRUSTED_PROXIES|trusted_proxies"):
        Settings(trusted_proxies=bad)
