"""Per-provider webhook verification: signatures, handshakes, and tenant extraction.

Pure functions of raw body bytes, headers, secrets and a clock. Depends on the stdlib, ``cryptography``
and PyJWT (the JWT-signed providers); never on the router, the registry, a web framework, httpx, Redis or
pydantic.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from verifiers import _catalog  # noqa: F401  (registers every provider module)
from verifiers._core import EventInfo, HandshakeReply, NotSignable, Request, Signed, build_request, lookup, names
from verifiers._extract import HANDSHAKE_MAX_BYTES
from verifiers._signing import sign, sign_request, signable
from verifiers.errors import (
    SECRET_SCHEMES,
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    MissingPublicUrl,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    UnknownProvider,
    UnsupportedVersion,
    VerificationError,
)

__all__ = [
    "HANDSHAKE_MAX_BYTES",
    "SECRET_SCHEMES",
    "EventInfo",
    "HandshakeReply",
    "Inbound",
    "MalformedBody",
    "MalformedHeader",
    "MissingHeader",
    "MissingPublicUrl",
    "MissingSecret",
    "NotSignable",
    "Request",
    "SignatureMismatch",
    "Signed",
    "TimestampOutOfRange",
    "UnknownProvider",
    "UnsupportedVersion",
    "VerificationError",
    "extract",
    "handshake",
    "needs_public_url",
    "providers",
    "sign",
    "sign_request",
    "signable",
    "signs_url",
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


class Inbound:
    """One inbound request prepared once for several checks: the receiver's hot path.

    ``verify``, ``handshake`` and ``extract`` above each normalise the headers and build their own
    request; a receiver that asks all three questions of every webhook uses this instead. Same
    semantics, same errors.
    """

    __slots__ = ("_provider", "_request")

    def __init__(
        self,
        provider: str,
        *,
        secrets: Sequence[str],
        headers: Mapping[str, str],
        body: bytes,
        method: str = "POST",
        url: str = "",
        now: float | None = None,
    ) -> None:
        self._provider = lookup(provider)
        self._request = build_request(
            secrets=secrets, headers=headers, body=body, method=method, url=url, now=time.time() if now is None else now
        )

    @property
    def empty_responses(self) -> bool:
        """Whether the provider wants replies without a body (the status code says it all)."""
        return self._provider.empty_responses

    def handshake(self) -> HandshakeReply | None:
        return self._provider.handshake(self._request)

    def verify(self) -> None:
        self._provider.verify(self._request)

    def extract(self) -> list[EventInfo]:
        try:
            events = self._provider.extract(self._request)
        except VerificationError:
            events = []
        return events or [EventInfo()]


def providers() -> list[str]:
    """Every registered provider name, aliases included."""
    return names()


def signs_url(provider: str) -> bool:
    """Whether ``provider``'s scheme signs the URL it called, host included (Twilio, HubSpot v2/v3, Trello,
    Mandrill, monday's aud, Pub/Sub's aud, Gong's webhook_url): such an integration needs a public URL."""
    return lookup(provider).signs_url


def needs_public_url(provider: str, secrets: Sequence[str]) -> bool:
    """``signs_url``, unless the secrets themselves name what the URL would stand for (Pub/Sub's ``aud=``)."""
    spec = lookup(provider)
    return spec.signs_url and not spec.own_audience(secrets)
