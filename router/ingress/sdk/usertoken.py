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

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from router.errors import RouterError
from subscriptions.models import ConnectedUser, Project

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


def _claims(token: str, project: Project, leeway_s: float, max_lifetime_s: float) -> dict[str, object]:
    keys = [k for k in map(_public_key, project.user_token_public_keys) if k is not None]
    if not keys:
        raise TokenRejected("user_tokens_not_configured")
    reason = "invalid_signature"
    for key in keys:
        try:
            claims: dict[str, object] = jwt.decode(
                token, key, algorithms=["RS256"], leeway=leeway_s, options={"require": _REQUIRED}
            )
            exp = claims["exp"]  # PyJWT has checked it is a number
            if not isinstance(exp, int | float) or exp - time.time() > max_lifetime_s + leeway_s:
                raise TokenRejected("token_lifetime_too_long")
            return claims
        except jwt.InvalidSignatureError:
            continue  # the next key of a rotation may verify it
        except jwt.ExpiredSignatureError:
            reason = "token_expired"
        except jwt.MissingRequiredClaimError as exc:
            reason = f"token_missing_{exc.claim}"
        except jwt.ImmatureSignatureError:
            reason = "token_not_yet_valid"
        except jwt.InvalidAlgorithmError:
            reason = "token_algorithm_not_allowed"
        except jwt.InvalidTokenError:  # malformed, bad claim types, ... (PyJWT's root error)
            reason = "token_malformed"
        break  # only a signature mismatch is worth trying the next key for
    raise TokenRejected(reason)


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
