"""Per-provider webhook verification: signatures, handshakes, and tenant extraction.

Pure functions of raw body bytes, headers, secrets and a clock. Depends on the stdlib and
``cryptography`` only; never on the router, the registry, a web framework or Redis.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from verifiers import _catalog  # noqa: F401  (registers every provider module)
from verifiers._core import EventInfo, HandshakeReply, Request, build_request, lookup, names
from verifiers.errors import (
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnknownProvider,
    UnsupportedVersion,
    VerificationError,
)

__all__ = [
    "EventInfo",
    "HandshakeReply",
    "MalformedBody",
    "MalformedHeader",
    "MissingHeader",
    "MissingSecret",
    "Request",
    "SignatureMismatch",
    "TimestampOutOfRange",
    "UnknownProvider",
    "UnsupportedVersion",
    "VerificationError",
    "extract",
    "handshake",
    "providers",
    "verify",
]


def verify(
    provider: str,
    *,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    url: str = "",
    now: float | None = None,
) -> None:
    """Return None when the request is authentic; raise a ``VerificationError`` otherwise."""
    spec = lookup(provider)
    request = build_request(
        secrets=secrets, headers=headers, body=body, method=method, url=url, now=time.time() if now is None else now
    )
    spec.verify(request)


def handshake(
    provider: str,
    *,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    url: str = "",
    now: float | None = None,
) -> HandshakeReply | None:
    """The reply to a provider's handshake or challenge, or None when the request is not one.

    Handshakes the provider signs are verified first: a forged challenge raises ``VerificationError``.
    """
    spec = lookup(provider)
    request = build_request(
        secrets=secrets, headers=headers, body=body, method=method, url=url, now=time.time() if now is None else now
    )
    return spec.handshake(request)


def extract(
    provider: str, *, headers: Mapping[str, str], body: bytes, method: str = "POST", url: str = ""
) -> list[EventInfo]:
    """Tenant (provider ID), event type and delivery id of a verified request, one item per event.

    Never raises for a verified request: a field that cannot be found is left empty, so the router can
    record the event as unroutable instead of losing it.
    """
    spec = lookup(provider)
    request = build_request(secrets=(), headers=headers, body=body, method=method, url=url, now=0.0)
    try:
        events = spec.extract(request)
    except VerificationError:
        events = []
    return events or [EventInfo()]


def providers() -> list[str]:
    """Every registered provider name, aliases included."""
    return names()
