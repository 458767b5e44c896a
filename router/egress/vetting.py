"""The addresses a connection to ``host`` may use: resolved once, every answer checked against the policy.

Both transports (``router.egress.transport``'s httpcore backend and ``router.egress.pooled``'s connector) connect
to exactly what this returns, so a name that answers a public address to the check and a private one to the
connect (DNS rebinding) gets no second lookup.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Sequence

import httpcore

from router.egress.policy import EgressPolicy, IPAddress, literal

__all__ = ["Resolver", "system_resolver", "vetted"]

# (host, port) → the addresses to try, in order. Injectable so tests can answer as a rebinding DNS server would.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def vetted(
    policy: EgressPolicy, resolver: Resolver, host: str, port: int, timeout: float | None
) -> list[IPAddress]:
    """The checked addresses of ``host``; AddressRefused for any refused one, httpcore's ConnectError or
    ConnectTimeout when the name does not resolve to addresses."""
    policy.check_host(host)
    ip = literal(host)
    if ip is not None:
        return [ip]
    try:
        async with asyncio.timeout(timeout):
            answers = await resolver(host, port)
    except TimeoutError:
        raise httpcore.ConnectTimeout("name resolution timed out") from None
    except OSError as exc:
        raise httpcore.ConnectError("name resolution failed") from exc
    addresses = [literal(a) for a in answers]
    # Every answer, not just the first: the system may try the next one, and so do we.
    for address in addresses:
        if address is None:
            raise httpcore.ConnectError("resolver answered something that is not an address")
        policy.check_address(address)
    return [a for a in addresses if a is not None]
