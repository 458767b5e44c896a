"""Which request headers are stored with an event.

Provider metadata (event type, delivery id, retry count, shop domain, ...) is kept for routing,
search and replay. Anything that authenticates (signatures, tokens, cookies) is never stored: a
stored event must not be a replayable credential.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import orjson

_KEEP_EXACT = frozenset({"content-type", "user-agent", "content-encoding"})
_KEEP_PREFIXES = (
    "x-github-",
    "x-slack-",
    "x-shopify-",
    "shopify-",
    "x-hubspot-",
    "x-zm-",
    "x-zendesk-",
    "x-docusign-",
    "x-xero-",
    "x-trello-",
    "x-twilio-",
    "x-notion-",
    "x-gitlab-",
    "webhook-",
    "svix-",
    "box-",
    "linear-",
    "x-hook-",
    "x-request-id",
    "x-amz-sns-",
)
_NEVER = ("signature", "hmac", "authorization", "token", "secret", "cookie", "sig-hash", "api-key", "password")


@functools.lru_cache(maxsize=1024)
def allowed(name: str) -> bool:
    lowered = name.lower()
    if any(part in lowered for part in _NEVER):
        return False
    return lowered in _KEEP_EXACT or lowered.startswith(_KEEP_PREFIXES)


def keep(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if allowed(name)}


def of_request(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """An ASGI request's headers (``scope["headers"]``) decoded once into a dict: names lower-cased, the first of a
    repeated name winning, as Starlette's ``Headers.get`` answers. The webhook receiver asks for its headers four
    times (declared length, certificate, verifier, stored allow-list); ``Headers`` decoded them on each."""
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


def stored(headers: Mapping[str, str]) -> str:
    """The kept headers as the stored event's ``headers`` field: compact JSON (non-ASCII written as UTF-8, which
    every reader's JSON parser takes as it took the escapes)."""
    return orjson.dumps(keep(headers)).decode()
