"""Gmail push notifications, delivered by a Google Cloud Pub/Sub push subscription.

Docs: https://developers.google.com/gmail/api/guides/push and
https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions

Pub/Sub signs nothing with a shared key. Two ways to authenticate a push, configured through the
integration's secrets, one entry each (a request passes when either configured way passes):

1. **OIDC token** (recommended; enable authentication on the push subscription): Pub/Sub sends
   ``Authorization: Bearer <JWT>``, RS256-signed by Google. Verified with PyJWT against public keys
   given as secrets, because a verifier does no I/O and cannot fetch Google's JWKS itself; the
   router (or an operator job) refreshes them from https://www.googleapis.com/oauth2/v3/certs
   (JWK set) or .../oauth2/v1/certs (PEM certificates). Secret entries:
   - a PEM public key or X.509 certificate (``-----BEGIN ...``), or a JWK / JWK set as JSON
     (``{"kty": "RSA", "kid": ...}`` or ``{"keys": [...]}``); a key with a ``kid`` is used only for
     tokens with that ``kid``;
   - ``aud=<audience>``: the audience set on the subscription. Default: the push endpoint URL built
     from the configured public URL (what Pub/Sub uses when none is set), never from the request's
     Host; with neither, a token is refused with ``missing_public_url``;
   - ``iss=<issuer>``: default ``https://accounts.google.com`` or ``accounts.google.com``;
   - ``email=<service account email>``: when given, the token's ``email`` must be one of them and
     ``email_verified`` true. Set it: without it any Google-signed token for the audience passes.
   ``exp`` is required; ``exp``/``iat``/``nbf`` are checked against the injected clock, 60 s leeway.
2. **URL token**: ``token=<value>`` entries compared in constant time with the ``?token=`` query
   parameter of the push endpoint URL.

Tenant: the mailbox, ``emailAddress`` in the base64 JSON ``message.data``
(``{"emailAddress": "user@example.com", "historyId": "9876543210"}``); delivery id
``message.messageId``; event type ``history`` (the mailbox's history advanced: list it to see what changed).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import require_any
from verifiers._jwt import check_jwt_times, parse_jwt
from verifiers._keys import rsa_private_key
from verifiers._query_and_batches import query_values
from verifiers.errors import MissingHeader, MissingSecret, SignatureMismatch, UnsupportedVersion

DEFAULT_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
Key = tuple[str | None, RSAPublicKey]  # (kid or None, key)


@dataclass(frozen=True, slots=True)
class Config:
    keys: tuple[Key, ...] = ()
    audiences: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()


def _pem(text: str) -> list[Key]:
    raw = text.encode("ascii", "replace")
    key: Any = x509.load_pem_x509_certificate(raw).public_key() if b"CERTIFICATE" in raw else load_pem_public_key(raw)
    return [(None, key)] if isinstance(key, RSAPublicKey) else []


def _jwks(text: str) -> list[Key]:
    data = json.loads(text)
    entries = data.get("keys") if isinstance(data, dict) and "keys" in data else [data]
    keys: list[Key] = []
    for entry in entries if isinstance(entries, list) else []:
        key = jwt.PyJWK(entry).key
        if isinstance(key, RSAPublicKey):
            kid = entry.get("kid")
            keys.append((kid if isinstance(kid, str) else None, key))
    return keys


@functools.lru_cache(maxsize=64)
def load_keys(text: str) -> tuple[Key, ...]:
    """Public keys in one secret entry; () when it holds none. Cached: parsing RSA keys is not free."""
    try:
        return tuple(_pem(text) if text.startswith("-----BEGIN") else _jwks(text))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, jwt.PyJWTError):
        return ()  # cryptography raises ValueError / UnsupportedAlgorithm (a ValueError) on bad PEM


def parse_secrets(secrets: tuple[str, ...]) -> Config:
    keys: list[Key] = []
    fields: dict[str, list[str]] = {"aud": [], "iss": [], "email": [], "token": []}
    for secret in secrets:
        text = secret.strip()
        if text.startswith(("-----BEGIN", "{")):
            keys.extend(load_keys(text))
            continue
        name, sep, value = text.partition("=")
        if sep and value and name in fields:
            fields[name].append(value)
    return Config(
        tuple(keys), tuple(fields["aud"]), tuple(fields["iss"]), tuple(fields["email"]), tuple(fields["token"])
    )


def _signed_claims(token: str, keys: tuple[Key, ...]) -> Mapping[str, Any]:
    parsed = parse_jwt(token)  # decoded once; times, audience and issuer are the caller's to check
    if parsed.header.get("alg") != "RS256":
        raise UnsupportedVersion("Pub/Sub OIDC token must be RS256", header="authorization")
    kid = parsed.header.get("kid")
    candidates = [key for key_id, key in keys if key_id is None or key_id == kid]
    if any(parsed.verifies(key, "RS256") for key in candidates):
        return parsed.claims
    raise SignatureMismatch("no configured key verifies the OIDC token", keys_tried=len(candidates))


def _check_claims(claims: Mapping[str, Any], config: Config, request: Request) -> None:
    check_jwt_times(claims, now=request.now)
    audiences = config.audiences or (request.public_url(),)
    aud = claims.get("aud")
    received = [a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)]
    require_any(audiences, received, scheme="oidc-aud")
    iss = claims.get("iss")
    require_any(config.issuers or DEFAULT_ISSUERS, [iss] if isinstance(iss, str) else [], scheme="oidc-iss")
    if config.emails:
        email = claims.get("email")
        if claims.get("email_verified") is not True or not isinstance(email, str):
            raise SignatureMismatch("OIDC token has no verified email", scheme="oidc-email")
        require_any(config.emails, [email], scheme="oidc-email")


def verify(request: Request) -> None:
    config = parse_secrets(request.require_secrets())
    if not config.keys and not config.tokens:
        raise MissingSecret("no public key and no token= secret configured")
    auth = request.header("authorization") or ""
    if config.keys and auth[:7].lower() == "bearer ":
        _check_claims(_signed_claims(auth[7:].strip(), config.keys), config, request)
        return
    received = query_values(request.url, "token")
    if config.tokens and received:
        require_any(config.tokens, received, scheme="url-token")
        return
    raise MissingHeader(
        "Authorization: Bearer <OIDC token> or ?token= is required",
        header="authorization",
        headers_seen=sorted(request.headers),
    )


def _mailbox(data: Any) -> str:
    encoded = dig(data, "message", "data")
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_")
    except (binascii.Error, ValueError):
        return ""
    return dig(loads(decoded), "emailAddress")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    delivery = first(dig(data, "message", "messageId"), dig(data, "message", "message_id"))
    return [EventInfo(_mailbox(data), "history" if isinstance(data, dict) else "", delivery)]


def own_audience(secrets: Sequence[str]) -> bool:
    """Whether the secrets pin what a token must be for without the public URL: an ``aud=`` entry, or URL
    tokens alone (they compare a query parameter, never the host)."""
    config = parse_secrets(tuple(secrets))
    return bool(config.audiences) or not config.keys


def sign(s: SignInput) -> Signed:
    """A ``token=<value>`` secret goes into the URL; a PEM private key signs an OIDC token instead, for the
    ``aud=`` / ``iss=`` / ``email=`` entries that follow it (default audience: the URL)."""
    first_secret = s.secret.strip()
    if first_secret.startswith("token="):
        token = first_secret[len("token=") :]
        if token in query_values(s.url, "token"):
            return s.signed({})
        return Signed({}, s.body, s.url + ("&" if "?" in s.url else "?") + urlencode({"token": token}))
    key = rsa_private_key(first_secret, "Pub/Sub tokens are RS256: give a PEM private key or token=")
    config = parse_secrets(s.secrets[1:])
    claims: dict[str, Any] = {
        "aud": config.audiences[0] if config.audiences else s.require_url(),
        "iss": (config.issuers or DEFAULT_ISSUERS)[0],
        "iat": int(s.now),
        "exp": int(s.now) + 3600,
    }
    if config.emails:
        claims.update(email=config.emails[0], email_verified=True)
    return s.signed({"authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256")})


PROVIDER = register(Provider("gmail", verify, extract=extract, signs_url=True, own_audience=own_audience, sign=sign))
