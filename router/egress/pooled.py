"""The guarded client's transport: httpx's API over aiohttp's connection pool, every new connection vetted.

httpcore's pool walks every connection it holds, probing each socket, for each request it queues and each
response it closes: at 50 requests in flight that is most of a delivery's CPU (a loopback sink served
~300 deliveries/s per worker through it; through this transport, see the README's Performance section).
aiohttp's connector keeps idle connections per origin in a queue and takes one without looking at the rest.

The policy is the same as ``router.egress.transport``'s: the connector asks ``vetted`` for the addresses of
every connection it opens (no DNS cache: each one is resolved and checked afresh, literal addresses included)
and connects to those very addresses; TLS verifies, and SNI and ``Host`` name, the URL's host. Redirects are
not followed, the environment's proxies are ignored, nothing is decompressed or added on the way (httpx's
``Response`` decodes, as with its own transport), and aiohttp's errors become httpx's, so callers see one API.

Of ``httpx.Limits``, ``max_connections`` and ``keepalive_expiry`` apply; aiohttp keeps any idle connection
within ``max_connections``, so ``max_keepalive_connections`` has no separate effect.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import aiohttp
import httpcore
import httpx
from aiohttp.abc import ResolveResult
from multidict import CIMultiDict
from yarl import URL

from router.egress.policy import EgressPolicy
from router.egress.vetting import Resolver, vetted

__all__ = ["PooledTransport"]

_DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
_BUFFERED = frozenset({"transfer-encoding"})  # the body is sent whole, with its length


class _GuardedConnector(aiohttp.TCPConnector):
    def __init__(self, policy: EgressPolicy, resolver: Resolver, **kwargs: Any) -> None:
        super().__init__(use_dns_cache=False, **kwargs)
        self._policy = policy
        self._vet_resolver = resolver

    # aiohttp's own resolution skips its resolver for literal addresses; every host goes through the policy here.
    async def _resolve_host(self, host: str, port: int, traces: Sequence[Any] | None = None) -> list[ResolveResult]:
        try:
            addresses = await vetted(self._policy, self._vet_resolver, host, port, None)
        except httpcore.ConnectTimeout as exc:
            raise httpx.ConnectTimeout(str(exc)) from None
        except httpcore.ConnectError as exc:
            raise httpx.ConnectError(str(exc)) from None
        return [
            {
                "hostname": host,
                "host": str(ip),
                "port": port,
                "family": socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for ip in addresses
        ]


@contextlib.contextmanager
def _as_httpx(request: httpx.Request) -> Iterator[None]:
    """aiohttp's exceptions as the httpx exceptions its own transport raises for the same failure."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout("connect timed out", request=request) from exc
    except aiohttp.ServerTimeoutError as exc:
        raise httpx.ReadTimeout("read timed out", request=request) from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError("connect failed", request=request) from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError) as exc:
        raise httpx.RemoteProtocolError("the server broke the exchange", request=request) from exc
    except (aiohttp.ClientPayloadError, aiohttp.ClientOSError) as exc:
        raise httpx.ReadError("read failed", request=request) from exc
    except aiohttp.InvalidURL as exc:
        raise httpx.UnsupportedProtocol("not a URL aiohttp can request", request=request) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError("transport failed") from exc


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx(self._request):
            async for chunk in self._response.content.iter_any():
                yield chunk

    async def aclose(self) -> None:
        # A body read to its end frees the connection for the next request; one left unread closes it.
        self._response.release()


_UNTIMED = aiohttp.ClientTimeout(total=None)


def _client_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    # A request without phase timeouts (a caller holding its own deadline) arms no timer of aiohttp's at all.
    if connect is None and read is None:
        return _UNTIMED
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class PooledTransport(httpx.AsyncBaseTransport):
    """An httpx transport over aiohttp whose every connection goes through ``policy`` (see the module)."""

    def __init__(self, policy: EgressPolicy, *, resolver: Resolver, limits: httpx.Limits | None = None) -> None:
        self._policy = policy
        self._resolver = resolver
        self._limits = limits or _DEFAULT_LIMITS
        self._session: aiohttp.ClientSession | None = None  # built on first use, inside the running loop

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            limits = self._limits
            connector = _GuardedConnector(
                self._policy,
                self._resolver,
                limit=limits.max_connections or 0,
                limit_per_host=0,
                keepalive_timeout=limits.keepalive_expiry if limits.keepalive_expiry is not None else 5.0,
                ssl=httpx.create_ssl_context(trust_env=False),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        body = request.content if isinstance(request.stream, httpx.ByteStream) else await request.aread()
        headers: CIMultiDict[str] = CIMultiDict()
        for raw_name, raw_value in request.headers.raw:
            name = raw_name.decode("latin-1")
            if name.lower() not in _BUFFERED:
                headers.add(name, raw_value.decode("latin-1"))
        with _as_httpx(request):
            response = await self._client().request(
                request.method,
                URL(str(request.url), encoded=True),
                data=body or None,
                headers=headers,
                allow_redirects=False,
                compress=None,
                timeout=_client_timeout(timeout.get("connect"), timeout.get("read")),
            )
        return httpx.Response(
            response.status,
            headers=list(response.raw_headers),
            stream=_Body(response, request),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (response.reason or "").encode("latin-1")},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
