"""Which addresses the router may send requests to: public ones, and what the operator allows.

Every outbound request (HTTP targets, destinations and their test action, provider-subscription calls,
``base_url`` overrides) goes through ``router.egress.transport``, which asks this policy about every address
a host resolves to. Without ``HOOKROUTER_EGRESS_ALLOW`` only public addresses pass: a webhook URL written by
a tenant must never reach the cloud metadata service, Redis or the admin API on a private network.

Host spellings that only legacy parsers read as IPv4 (``0x7f000001``, ``2130706433``, ``0177.0.0.1``,
``127.1``) are refused outright, whatever the allow-list says: nobody configures a target that way except
to slip past a check.

Exceptions::

    httpx.ConnectError
     └── AddressRefused   reason "address_refused"; never retried
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

import httpx

__all__ = ["AddressRefused", "EgressPolicy", "IPAddress"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Spelled out rather than left to ``is_global`` alone: its tables differ between Python releases, and a
# refused range must not open up with an interpreter upgrade.
_REFUSED: tuple[_Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # unspecified, "this network"
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata (169.254.169.254)
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, Teredo
        "2001:db8::/32",
        "fc00::/7",  # unique-local
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class AddressRefused(httpx.ConnectError):
    """The egress policy refused the address (or the spelling of the host); nothing was sent."""

    reason = "address_refused"
    retryable = False  # waiting does not change a policy: fail the job for good


def embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and may end up reaching: mapped, compatible, 6to4 or NAT64."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # IPv4-compatible (::a.b.c.d), deprecated but still routed by some
        return ipaddress.IPv4Address(int(ip))
    return None


def is_public(ip: IPAddress) -> bool:
    v4 = embedded_v4(ip)
    if v4 is not None:
        return is_public(v4)
    if any(ip in net for net in _REFUSED if net.version == ip.version):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local)


def literal(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one in canonical form (brackets and a zone id allowed)."""
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def odd_spelling(host: str) -> bool:
    """True for a host that is an IPv4 address only to ``inet_aton`` (hex, octal, one number, short forms)."""
    bare = host.rstrip(".")
    if literal(bare) is not None:
        return bare != host  # "127.0.0.1." resolves like the address itself
    try:
        socket.inet_aton(bare)
    except OSError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class EgressPolicy:
    """Public addresses, plus the operator's ``allow`` networks (for internal targets, and tests' sinks)."""

    allow: tuple[_Network, ...] = ()

    @classmethod
    def parse(cls, allow: str) -> EgressPolicy:
        """From ``HOOKROUTER_EGRESS_ALLOW``: comma-separated CIDRs or addresses; ValueError names a bad one."""
        networks = []
        for item in (part.strip() for part in allow.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR network") from None
        return cls(tuple(networks))

    def allowed(self, ip: IPAddress) -> bool:
        candidates = [ip] if (v4 := embedded_v4(ip)) is None else [ip, v4]
        if any(c in net for c in candidates for net in self.allow if net.version == c.version):
            return True
        return is_public(ip)

    def check_host(self, host: str) -> None:
        """Refuse a host by its spelling or, when it is a literal address, by the address. Names pass here:
        they are checked after resolution, on every address."""
        if odd_spelling(host):
            raise AddressRefused("host is an unusual spelling of an IP address")
        ip = literal(host)
        if ip is not None:
            self.check_address(ip)

    def check_address(self, ip: IPAddress) -> None:
        if not self.allowed(ip):
            raise AddressRefused("address refused by the egress policy")
