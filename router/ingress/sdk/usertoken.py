"""User tokens: the RS256 JWTs an operator's app signs for its users (App Events, Request triggers).

A token is valid when its signature verifies with one of the project's public keys (several during a
key rotation), it carries ``sub``, ``iat`` and ``exp``, its ``iat``/``exp`` hold within the configured
clock skew, its ``exp`` lies no further ahead than the configured maximum lifetime (a leaked token that
never expires is a standing credential), and ``sub`` names a connected user of that project. Failures
raise ``TokenRejected`` with a stable ``reason`` code and the ``status`` to answer: 401 for the token
itself, 403 for a disabled user.
"""

from __future__ import annotations

import functools
import logging
import time

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from router.errors import RouterError
from subscriptions.models import ConnectedUser, Project
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)

_REQUIRED = ["sub", "iat", "exp"]


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
    scheme, _, token = (authorization or "").partition(" ")
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


def authenticate(
    token: str, project: Project, snapshot: Snapshot, *, leeway_s: float, max_lifetime_s: float
) -> ConnectedUser:
    """The connected user ``token`` speaks for, or TokenRejected."""
    sub = _claims(token, project, leeway_s, max_lifetime_s).get("sub")
    user = snapshot.users.get(sub) if isinstance(sub, str) else None
    if user is None or user.project != project.id:
        raise TokenRejected("unknown_user")
    if user.disabled:
        raise TokenRejected("user_disabled", status=403)
    return user
