"""The provider registry and the request value every provider module works on."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from verifiers._extract import parsed
from verifiers.errors import (
    MalformedBody,
    MalformedHeader,
    MissingHeader,
    MissingPublicUrl,
    MissingSecret,
    NotSignable,
    UnknownProvider,
)


@dataclass(frozen=True, slots=True)
class HandshakeReply:
    """What the router must answer to a provider's handshake or challenge.

    ``persist`` carries values the router must store for the integration (Asana's ``X-Hook-Secret``,
    Notion's verification token), keyed by purpose, e.g. ``{"secret": "..."}``.
    """

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    persist: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What the router needs to route one event: the tenant, the event type and the delivery id.

    ``body`` is set only when a batched delivery was split: it is then this event's own JSON.
    """

    provider_id: str = ""
    event_type: str = ""
    delivery_id: str = ""
    body: bytes | None = None

    def __post_init__(self) -> None:
        for name in ("provider_id", "event_type", "delivery_id"):
            value = getattr(self, name)
            if not value.isascii():
                object.__setattr__(self, name, escape_surrogates(value))


# JSON may escape a lone UTF-16 surrogate ("\ud800"): json.loads hands it over as a str that no UTF-8 encoder takes,
# so an id holding one could not become a key, a log line or a stream field. It is kept as the escape it came as.
_SURROGATE = re.compile("[\ud800-\udfff]")


def escape_surrogates(text: str) -> str:
    """``text`` with each lone surrogate written as the JSON escape it came as (``\\ud800``): UTF-8 text again."""
    return _SURROGATE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


@dataclass(frozen=True, slots=True)
class Request:
    """One inbound request, headers already lower-cased."""

    headers: Mapping[str, str]
    body: bytes
    method: str
    url: str
    now: float
    secrets: tuple[str, ...]

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def require_header(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None or value == "":
            raise MissingHeader(f"{name} is required", header=name, headers_seen=sorted(self.headers))
        return value

    def require_secrets(self) -> tuple[str, ...]:
        usable = tuple(s for s in self.secrets if s)
        if not usable:
            raise MissingSecret("no active secret configured")
        return usable

    def public_url(self) -> str:
        """The absolute URL the provider called, for schemes that sign it; MissingPublicUrl when the router
        has only the request's own path (no public URL configured for the integration)."""
        try:
            parts = urlsplit(self.url)
        except ValueError:
            raise MalformedHeader("the public request URL is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise MissingPublicUrl("this scheme signs the public URL, and none is configured")
        return self.url

    def json(self) -> Any:
        """The body parsed as JSON, or MalformedBody."""
        try:
            return parsed(self.body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise MalformedBody("body is not valid JSON") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise MalformedBody("body is not a JSON object")
        return data


@dataclass(frozen=True, slots=True)
class SignInput:
    """What a provider module's signer works from: the request to sign and the key to sign it with.

    ``secrets`` are the caller's (the first is the signing key; Box also takes the second), ``headers``
    are lower-cased and may name ids the provider would send (``webhook-id``, ``x-github-delivery``);
    ``scheme`` picks a variant where a provider has several (HubSpot ``v1``/``v2``/``v3``).
    """

    name: str
    secrets: tuple[str, ...]
    body: bytes
    url: str
    method: str
    now: float
    headers: Mapping[str, str]
    scheme: str

    @property
    def secret(self) -> str:
        return self.secrets[0]

    def given(self, name: str, default: str) -> str:
        """A header the caller chose (an id, an event type), or ``default``."""
        return self.headers.get(name) or default

    def delivery_id(self, prefix: str = "") -> str:
        """A delivery id stable for one body and instant: signing stays a pure function."""
        digest = hashlib.sha256(b"%d:" % int(self.now) + self.body).hexdigest()
        return prefix + digest[:24]

    def require_url(self) -> str:
        """The absolute URL the request goes to, for schemes that sign it."""
        if not self.url[:8].lower().startswith(("http://", "https://")):
            raise NotSignable(f"{self.name} signs the URL it is sent to: give url=")
        return self.url

    def signed(self, headers: Mapping[str, str]) -> Signed:
        return Signed(dict(headers), self.body, self.url)


@dataclass(frozen=True, slots=True)
class Signed:
    """A request as the provider would send it: headers to add, and the body and URL to send (changed only
    by schemes that carry the signature in them: Lever's body fields, Graph's clientState, URL secrets)."""

    headers: dict[str, str]
    body: bytes
    url: str


Verify = Callable[[Request], None]
Handshake = Callable[[Request], "HandshakeReply | None"]
Extract = Callable[[Request], "list[EventInfo]"]
Sign = Callable[[SignInput], Signed]


def _no_handshake(request: Request) -> HandshakeReply | None:
    return None


def _no_extract(request: Request) -> list[EventInfo]:
    return [EventInfo()]


def _no_own_audience(secrets: Sequence[str]) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    verify: Verify
    handshake: Handshake = _no_handshake
    extract: Extract = _no_extract
    aliases: tuple[str, ...] = ()
    # The provider requires responses without a body (Xero: "There is no body in the response"), the
    # rejections included: the router then answers with the status code alone.
    empty_responses: bool = False
    # The scheme signs (or binds a token to) the URL the provider called, host included, so the router must
    # know the public URL. ``own_audience`` says when the secrets already name what the URL would (Pub/Sub's
    # aud=), making the public URL unnecessary.
    signs_url: bool = False
    own_audience: Callable[[Sequence[str]], bool] = _no_own_audience
    # How the provider signs, for test events and senders; None when a shared secret cannot sign it.
    sign: Sign | None = None


_REGISTRY: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    for name in (provider.name, *provider.aliases):
        if name in _REGISTRY:
            raise ValueError(f"provider {name!r} registered twice")
        _REGISTRY[name] = provider
    return provider


def lookup(name: str) -> Provider:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownProvider(f"no verifier for provider {name[:64]!r}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def lowercase(headers: Mapping[str, str]) -> dict[str, str]:
    # Starlette's Headers, a dict, a list-backed mapping: whatever it is, match names case-insensitively.
    # With repeated names the first wins, as Starlette's Headers.get does.
    out: dict[str, str] = {}
    for key, value in headers.items():
        out.setdefault(str(key).lower(), str(value))
    return out


def build_request(
    *, secrets: Sequence[str], headers: Mapping[str, str], body: bytes, method: str, url: str, now: float
) -> Request:
    return Request(
        headers=lowercase(headers),
        body=bytes(body),
        method=method.upper(),
        url=url,
        now=now,
        secrets=tuple(secrets),
    )
