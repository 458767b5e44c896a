"""User tokens: the RS256 JWTs an operator's app signs for its users (App Events, Request triggers).

A token is valid when its signature verifies with one of the project's public keys (several during a
key rotation), it carries ``sub``, ``iat`` and ``exp``, its ``iat``/``exp`` hold within the configured
clock skew, its ``exp`` lies no further ahead than the configured maximum lifetime (a leaked token that
never expires is a standing credential), and ``sub`` is a user id (a user the project does not know yet is
created on first use by ``router.ingress.sdk.users``; one of another project is refused). Failures
raise ``TokenRejected`` with a stable ``reason`` code and the ``status`` to answer: 401 for the token
itself, 403 for a disabled user.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from router.errors import RouterError
from subscriptions.models import ConnectedUser, Project
from verifiers._jwt import parse_jwt
from verifiers.errors import MalformedHeader

logger = logging.getLogger(__name__)

_REQUIRED = ["sub", "iat", "exp"]
_USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}")  # subscriptions.models.Id


class TokenRejected(RouterError):
    status: int = 401  # 403 for a known user who is disabled

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@functools.lru_cache(maxsize=256)
def _public_key(pem: str) -> RSAPublicKey | None:
    # Keys pasted from an environment secret often arrive with literal "\n" (the platform's own docs
    # do replaceAll("\\n", "\n")); accept both. Parsed once per distinct PEM: parsing costs more than verifying.
    try:
        key = load_pem_public_key(pem.replace("\\n", "\n").encode())
    except (ValueError, TypeError):
        return None
    return key if isinstance(key, RSAPublicKey) else None


def bearer(authorization: str | None) -> str:
    value = (authorization or "").strip()
    if " " not in value and value.count(".") == 2:
        return value  # a bare JWT: the platform's own PATCH /sdk/me example sends it without "Bearer" (L1279)
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenRejected("missing_token")
    return token.strip()


def _claims(token: str, project: Project, leeway_s: float, max_lifetime_s: float) -> Mapping[str, object]:
    keys = [k for k in map(_public_key, project.user_token_public_keys) if k is not None]
    if not keys:
        raise TokenRejected("user_tokens_not_configured")
    try:
        parsed = parse_jwt(token)  # decoded once, however many keys a rotation has to try
    except MalformedHeader:
        raise TokenRejected("token_malformed") from None
    if parsed.header.get("alg") != "RS256":
        raise TokenRejected("token_algorithm_not_allowed")
    if not any(parsed.verifies(key, "RS256") for key in keys):
        raise TokenRejected("invalid_signature")
    claims = parsed.claims
    now = time.time()
    _check_claims(claims, now, leeway_s)
    exp = claims["exp"]
    if not isinstance(exp, int | float) or exp - now > max_lifetime_s + leeway_s:
        raise TokenRejected("token_lifetime_too_long")
    return claims


def _whole(claims: Mapping[str, object], name: str) -> int:
    value: Any = claims[name]
    # As PyJWT reads them: int() of a number or a numeric string; a float is truncated.
    try:
        return int(value)
    except (ValueError, TypeError, OverflowError):
        raise TokenRejected("token_malformed") from None


def _check_claims(claims: Mapping[str, object], now: float, leeway_s: float) -> None:
    """PyJWT's claim checks, in its order: required claims, then ``iat``, ``nbf``, ``exp``, ``sub`` and ``jti``."""
    for name in _REQUIRED:
        if claims.get(name) is None:
            raise TokenRejected(f"token_missing_{name}")
    if _whole(claims, "iat") > now + leeway_s or ("nbf" in claims and _whole(claims, "nbf") > now + leeway_s):
        raise TokenRejected("token_not_yet_valid")
    if _whole(claims, "exp") <= now - leeway_s:
        raise TokenRejected("token_expired")
    for name in ("sub", "jti"):
        if name in claims and not isinstance(claims[name], str):
            raise TokenRejected("token_malformed")


def subject(token: str, project: Project, *, leeway_s: float, max_lifetime_s: float) -> str:
    """The ``sub`` of a valid token of ``project`` (the connected user it speaks for), or TokenRejected."""
    sub = _claims(token, project, leeway_s, max_lifetime_s).get("sub")
    if not isinstance(sub, str) or _USER_ID.fullmatch(sub) is None:
        raise TokenRejected("token_subject_invalid")  # not an id a connected user can have
    return sub


def admit(user: ConnectedUser, project: Project) -> ConnectedUser:
    """The connected user a token's ``sub`` names, if it may act in ``project``, or TokenRejected."""
    if user.project != project.id:
        raise TokenRejected("unknown_user")  # a user id of another project: never seen from this one
    if user.disabled:
        raise TokenRejected("user_disabled", status=403)
    return user
