"""JWT helpers for the providers that sign with one (Gmail's Pub/Sub push tokens, Jira Connect, Plaid) and for
App Events user tokens: a token decoded once (``parse_jwt``), its signature checked against each candidate key
without decoding it again (``Token.verifies``), and its times checked against the injected clock.

Decoding once: reading the header to pick a key, reading the claims, and verifying used to be three decodes
of the same token (base64 and JSON of every segment, each time), and a key rotation one more per key tried.
``parse_jwt`` keeps the last few tokens it decoded, so a request's verification and its extraction (Jira's
tenant is the token's ``iss``) share one decode too.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.api_jws import PyJWS

from verifiers.errors import MalformedHeader, TimestampOutOfRange

__all__ = ["JWT_LEEWAY_S", "Token", "check_jwt_times", "parse_jwt", "unverified_jwt"]

JWT_LEEWAY_S = 60
_JWS = PyJWS()
_DECODE_ERRORS = (jwt.PyJWTError, ValueError, TypeError, RecursionError)  # RecursionError: deeply nested JSON


@dataclass(frozen=True, slots=True)
class Token:
    """A compact JWT as decoded, its signature not yet checked. Shared between callers: read-only."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes
    signature: bytes

    def verifies(self, key: Any, algorithm: str) -> bool:
        """Whether ``key`` signed this token under ``algorithm``. Which algorithm the header may name is the
        caller's decision (check ``header["alg"]`` first): this never takes the algorithm from the token."""
        alg = _JWS.get_algorithm_by_name(algorithm)
        try:
            return bool(alg.verify(self.signing_input, alg.prepare_key(key), self.signature))
        except _DECODE_ERRORS:
            return False  # a key of the wrong type for the algorithm: it cannot have signed the token


@functools.lru_cache(maxsize=16)
def parse_jwt(token: str) -> Token:
    """The one decode of a compact JWT (header, claims, signed bytes, signature), or MalformedHeader."""
    try:
        decoded = _JWS.decode_complete(token, options={"verify_signature": False})
        claims = json.loads(decoded["payload"])
    except _DECODE_ERRORS:
        raise MalformedHeader("not a well-formed JWT", header="authorization") from None
    if not isinstance(claims, dict):
        raise MalformedHeader("JWT claims are not an object", header="authorization")
    signing_input = token.rpartition(".")[0].encode("utf-8")
    return Token(decoded["header"], claims, signing_input, decoded["signature"])


def unverified_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWT, read without checking the signature, or MalformedHeader (copies: the
    decoded token is shared)."""
    parsed = parse_jwt(token)
    return dict(parsed.header), dict(parsed.claims)


def _number(value: object) -> float | None:
    # json accepts NaN and Infinity; a NaN exp would compare False against everything and never expire.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def check_jwt_times(claims: Mapping[str, Any], *, now: float, leeway_s: float = JWT_LEEWAY_S) -> None:
    """``exp`` required and in the future, ``iat``/``nbf`` (when present) not in the future, against ``now``.

    PyJWT reads the wall clock; checking here keeps the injected clock authoritative.
    """
    exp = _number(claims.get("exp"))
    if exp is None:
        raise MalformedHeader("JWT has no numeric exp claim", header="authorization")
    if now > exp + leeway_s:
        raise TimestampOutOfRange("JWT expired", skew_s=round(now - exp, 3), tolerance_s=leeway_s)
    for name in ("iat", "nbf"):
        if name in claims:
            value = _number(claims[name])
            if value is None:
                raise MalformedHeader(f"JWT {name} claim is not a number", header="authorization")
            if value > now + leeway_s:
                raise TimestampOutOfRange(
                    f"JWT {name} is in the future", skew_s=round(now - value, 3), tolerance_s=leeway_s
                )
