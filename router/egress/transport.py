"""The one way the router makes outbound HTTP requests: an httpx client that connects only where the
egress policy (``router.egress.policy``) allows.

The host is resolved here, every address it resolves to is checked, and the connection is opened to an
address that was checked: a name that answers a public address to the check and a private one to the
connect (DNS rebinding) gets no second lookup. TLS still verifies, and SNI and ``Host`` still name, the
host of the URL, because httpcore takes those from the request, not from the socket.

Redirects are never followed and the environment's proxy settings are ignored (a proxy would do the
connecting, out of the policy's sight).

Two transports hold that line: ``PooledTransport`` (``router.egress.pooled``, aiohttp's connection pool), which
``guarded_client`` uses, and ``GuardedTransport`` here, httpx's own over httpcore, kept as the reference the
policy tests also run against. httpcore's pool costs a delivery worker most of its CPU at 50 requests in flight.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

from router.egress.policy import EgressPolicy
from router.egress.pooled import PooledTransport
from router.egress.vetting import Resolver, system_resolver, vetted

__all__ = ["GuardedTransport", "PooledTransport", "Resolver", "guarded_client", "system_resolver"]


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: EgressPolicy, resolver: Resolver, inner: httpcore.AsyncNetworkBackend) -> None:
        self._policy = policy
        self._resolver = resolver
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await vetted(self._policy, self._resolver, host, port, timeout)
        failure: Exception = httpcore.ConnectError("no address to connect to")
        for ip in addresses:
            try:
                return await self._inner.connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not an egress destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport, with a connection pool whose every socket goes through the policy."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        limits: httpx.Limits | None = None,
        resolver: Resolver = system_resolver,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
        super().__init__(trust_env=False, limits=limits)
        # httpx takes no network backend, so its pool is replaced by one built with the same settings.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedBackend(policy, resolver, backend or httpcore.AnyIOBackend()),
        )


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing: a target's Set-Cookie is never stored, so never sent on to it or anyone."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _GuardedClient(httpx.AsyncClient):
    # httpx stores every response's cookies (most of a delivery's client-side CPU after the pool's); the router
    # talks to tenants' endpoints, whose cookies it has no business keeping.
    _no_cookies = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        raise AttributeError("the guarded client keeps no cookies")


def guarded_client(
    policy: EgressPolicy,
    *,
    limits: httpx.Limits | None = None,
    timeout_s: float | None = None,
    resolver: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """An ``AsyncClient`` for outbound requests: policy-checked connections, no redirects, no env proxies."""
    timeout = httpx.Timeout(timeout_s) if timeout_s is not None else httpx.Timeout(5.0)
    return _GuardedClient(
        transport=PooledTransport(policy, limits=limits, resolver=resolver),
        follow_redirects=False,
        trust_env=False,
        timeout=timeout,
    )


def local_client(*, timeout_s: float = 10.0) -> httpx.AsyncClient:
    """An ``AsyncClient`` WITHOUT the egress policy, for the command line's requests to its user's own services:
    ``hookrouter forward --to`` (an app under development on this machine) and ``hookrouter send`` (this router).
    Loopback and private addresses are the point there. Never for a URL from the registry or from a request."""
    return httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=httpx.Timeout(timeout_s))
