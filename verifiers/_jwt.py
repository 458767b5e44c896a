"""JWT helpers for the providers that sign with one (Gmail's Pub/Sub push tokens, Jira Connect): reading a
token before its key is known, and checking its times against the injected clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jwt

from verifiers.errors import MalformedHeader, TimestampOutOfRange

JWT_LEEWAY_S = 60


def unverified_jwt(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWT, read without checking the signature, or MalformedHeader."""
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError, RecursionError):
        # RecursionError: json.loads on a deeply nested header; the token is attacker-chosen.
        raise MalformedHeader("not a well-formed JWT", header="authorization") from None
    if not isinstance(claims, dict):
        raise MalformedHeader("JWT claims are not an object", header="authorization")
    return header, claims


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
