"""monday.com webhooks: HS256 JWT in ``Authorization`` and the ``{"challenge"}`` handshake.

Docs: https://developer.monday.com/apps/docs/authorization-header
and https://developer.monday.com/apps/docs/advanced-concepts

Scheme: ``Authorization: <JWT>`` (a ``Bearer`` prefix is tolerated), HS256, keyed with the app's
Signing Secret (board webhooks, integration recipes) or Client Secret (app lifecycle webhooks): give
both as secrets. The JWT signs its claims, not the body. We require ``exp`` and check it, and any
``iat`` / ``nbf``, against the injected clock with 30 s of skew (monday issues 5-minute tokens), and
that ``aud`` is the configured public URL (with or without its query string): without one the token
is refused with ``missing_public_url``, since a token minted for another app's URL would otherwise pass.
Webhooks created plainly through the API or UI, not by an app, carry no JWT: they fail here with
``missing_header`` and need a secret in the URL instead.

Handshake: ``{"challenge": "..."}`` is echoed as the identical JSON with 200. monday does not sign it,
and echoing a caller's own value discloses nothing.
"""

from __future__ import annotations

import json
import math
import warnings
from typing import Any

import jwt

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, handshake_json, loads
from verifiers.errors import (
    MalformedBody,
    MalformedHeader,
    SignatureMismatch,
    TimestampOutOfRange,
    UnsupportedVersion,
    VerificationError,
)

LEEWAY_S = 30
# Clock claims are checked below against request.now: PyJWT only knows the wall clock.
_OPTIONS: jwt.types.Options = {"require": ["exp"], "verify_exp": False, "verify_iat": False, "verify_nbf": False}


def _token(request: Request) -> str:
    value = request.require_header("authorization").strip()
    return value[7:].strip() if value[:7].lower() == "bearer " else value


def _audiences(url: str) -> list[str]:
    return [url, url.split("?", 1)[0].split("#", 1)[0]]


def _decode(token: str, secret: str, url: str) -> dict[str, Any]:
    options: jwt.types.Options = {**_OPTIONS, "verify_aud": True}
    with warnings.catch_warnings():
        # PyJWT warns on HMAC keys under 32 bytes; the secret is the provider's choice, not ours.
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.decode(token, secret, algorithms=["HS256"], audience=_audiences(url), options=options)


def _claims(request: Request) -> dict[str, Any]:
    token = _token(request)
    secrets = request.require_secrets()
    url = request.public_url()
    for secret in secrets:
        try:
            return _decode(token, secret, url)
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAudienceError:
            raise SignatureMismatch("JWT aud is not this endpoint", scheme="monday-jwt", claim="aud") from None
        except jwt.InvalidAlgorithmError:
            raise UnsupportedVersion("JWT is not HS256", scheme="monday-jwt", header="authorization") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise MalformedHeader("Authorization is not a usable JWT", header="authorization") from None
    raise SignatureMismatch("no signature matched", scheme="monday-jwt", secrets_tried=len(secrets))


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def verify(request: Request) -> None:
    claims = _claims(request)
    exp = _number(claims.get("exp"))
    if exp is None:
        raise MalformedHeader("JWT exp is not a number", header="authorization")
    if request.now > exp + LEEWAY_S:
        raise TimestampOutOfRange("JWT expired", skew_s=round(request.now - exp, 3), tolerance_s=LEEWAY_S)
    for claim in ("iat", "nbf"):
        issued = _number(claims.get(claim))
        if issued is not None and issued > request.now + LEEWAY_S:
            raise TimestampOutOfRange(
                f"JWT {claim} is in the future", skew_s=round(request.now - issued, 3), tolerance_s=LEEWAY_S
            )


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b'"challenge"')
    if not isinstance(data, dict) or "challenge" not in data:
        return None
    challenge = data["challenge"]
    if not isinstance(challenge, str):
        raise MalformedBody("challenge is not a string")
    return HandshakeReply(200, {"content-type": "application/json"}, json.dumps({"challenge": challenge}).encode())


def _unverified_claims(request: Request) -> dict[str, Any]:
    # extract runs only after verify passed, so the claims can be read without checking them again.
    try:
        claims = jwt.decode(_token(request), options={"verify_signature": False})
    except (VerificationError, jwt.PyJWTError, ValueError, TypeError):
        return {}  # no usable token: the tenant is reported empty, never as an exception
    return claims if isinstance(claims, dict) else {}


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    claims = _unverified_claims(request)
    tenant = first(dig(claims, "accountId"), dig(data, "data", "account_id"))
    event_type = first(dig(data, "event", "type"), dig(data, "type"))
    return [EventInfo(tenant, event_type, dig(data, "event", "triggerUuid"))]


def sign(s: SignInput) -> Signed:
    """An HS256 JWT for the URL (``aud``), valid five minutes; ``accountId`` from the body when it has one."""
    claims: dict[str, Any] = {"aud": s.require_url(), "iat": int(s.now), "exp": int(s.now) + 300}
    account = dig(loads(s.body), "data", "account_id")
    if account:
        claims["accountId"] = int(account) if account.isdigit() else account
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return s.signed({"authorization": jwt.encode(claims, s.secret, algorithm="HS256")})


PROVIDER = register(Provider("monday", verify, handshake, extract, signs_url=True, sign=sign))
