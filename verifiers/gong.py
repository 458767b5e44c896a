"""Gong automation-rule webhooks with "Signed JWT header" authentication.

Docs: https://help.gong.io/docs/create-a-webhook-rule and
https://help.gong.io/docs/prepare-your-receiving-application-to-receive-a-webhook-jwt-header

``Authorization`` carries a JWT (``Bearer`` prefix optional) signed RS256 with Gong's private key. The
secret is the rule's public key as Gong shows it (bare base64 DER) or as a PEM ``PUBLIC KEY``. Claims:
- ``webhook_url`` must equal the URL the request was sent to (scheme, host and default port compared
  case-insensitively; path and query exactly), binding the token to this endpoint;
- ``body_sha256`` must equal the lowercase hex SHA-256 of the raw body;
- ``exp`` / ``nbf``, when present, are checked against the injected clock with 60 s of leeway.
Only RS256 is accepted (no algorithm confusion). The "URL includes key" option has no signature; use
a URL secret for it instead. There is no handshake.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, check_window
from verifiers._keys import rsa_private_key
from verifiers.errors import MalformedHeader, MissingSecret, SignatureMismatch

LEEWAY_S = 60
_DEFAULT_PORTS = {"https": 443, "http": 80}


def public_key(secret: str) -> RSAPublicKey | None:
    text = secret.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(b64decode_strict("".join(text.split())))
    except (ValueError, TypeError, UnsupportedAlgorithm, MalformedHeader):
        return None
    return key if isinstance(key, RSAPublicKey) else None


def normalize_url(url: str) -> str:
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url
    host = (parts.hostname or "").lower()
    if parts.hostname and ":" in parts.hostname:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme.lower()):
        host = f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), host, parts.path, parts.query, ""))


def _token(request: Request) -> str:
    value = request.require_header("authorization").strip()
    scheme, _, rest = value.partition(" ")
    token = rest.strip() if scheme.lower() == "bearer" else value
    if token.count(".") != 2:
        raise MalformedHeader("authorization does not hold a JWT", header="authorization")
    return token


def _claims(token: str, keys: list[RSAPublicKey]) -> dict[str, Any]:
    # The clock is checked below against request.now; PyJWT would read the wall clock.
    options: Any = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False}
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], options=options)
            return claims
        except jwt.InvalidSignatureError:
            continue
        except (jwt.PyJWTError, ValueError, TypeError):
            raise MalformedHeader("authorization JWT is malformed", header="authorization") from None
    raise SignatureMismatch("no public key verified the JWT", scheme="gong-rs256", secrets_tried=len(keys))


def _check_time(claims: dict[str, Any], now: float) -> None:
    for name, late_ok in (("exp", False), ("nbf", True)):
        value = claims.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise MalformedHeader(f"JWT {name} claim is not a number", header="authorization")
        # exp may be in the past by the leeway only; nbf may be in the future by the leeway only.
        check_window(
            float(value),
            now=now,
            tolerance_s=float("inf") if late_ok else LEEWAY_S,
            future_s=LEEWAY_S if late_ok else float("inf"),
        )


def _check_bindings(claims: dict[str, Any], request: Request) -> None:
    digest = claims.get("body_sha256")
    if not isinstance(digest, str) or not hmac.compare_digest(
        hashlib.sha256(request.body).hexdigest().encode(), digest.strip().lower().encode("utf-8", "replace")
    ):
        raise SignatureMismatch("body does not match the JWT body_sha256 claim", scheme="gong-rs256")
    url = claims.get("webhook_url")
    if not isinstance(url, str) or normalize_url(url) != normalize_url(request.public_url()):
        raise SignatureMismatch("JWT webhook_url is not this endpoint", scheme="gong-rs256")


def verify(request: Request) -> None:
    token = _token(request)
    keys = [k for k in (public_key(s) for s in request.require_secrets()) if k is not None]
    if not keys:
        raise MissingSecret("no secret is an RSA public key (base64 DER or PEM)")
    claims = _claims(token, keys)
    _check_time(claims, request.now)
    _check_bindings(claims, request)


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    # Gong's payload names no tenant (route by URL); a rule fires once per matching call.
    call_id = dig(data, "callData", "metaData", "id")
    return [EventInfo("", "call" if call_id else "", call_id)]


def sign(s: SignInput) -> Signed:
    """An RS256 JWT binding the URL (as given: Gong compares it) and the body's SHA-256; the secret is Gong's
    private key (PEM)."""
    key = rsa_private_key(s.secret, "Gong signs with an RSA private key (PEM)")
    claims = {
        "webhook_url": s.url,
        "body_sha256": hashlib.sha256(s.body).hexdigest(),
        "exp": int(s.now) + 300,
    }
    return s.signed({"authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256")})


PROVIDER = register(Provider("gong", verify, extract=extract, signs_url=True, sign=sign))
