"""Netlify outgoing webhooks (deploy notifications) with a JWS secret token.

Docs: https://docs.netlify.com/site-deploys/deploy-notifications/#payload-signature

``X-Webhook-Signature`` carries a JWS (JWT) signed HS256 with the notification's JWS secret token, whose
claims are ``iss: "netlify"`` and ``sha256``: the lowercase hex SHA-256 of the raw body. Only HS256 is
accepted; the issuer must be ``netlify``. Netlify signs no time, so dedupe on the deploy ``id`` with its
``state``. Tenant ``site_id``; event type the ``X-Netlify-Event`` header (``deploy_created``).
"""

from __future__ import annotations

import hashlib
import hmac
import warnings
from typing import Any

import jwt

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers.errors import MalformedHeader, SignatureMismatch, UnsupportedVersion

HEADER = "x-webhook-signature"
_OPTIONS: Any = {"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["iss", "sha256"]}


def _claims(token: str, secrets: tuple[str, ...]) -> dict[str, Any]:
    for secret in secrets:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)  # the operator's key
                claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"], options=_OPTIONS)
            return claims
        except jwt.InvalidSignatureError:
            continue
        except jwt.InvalidAlgorithmError:
            raise UnsupportedVersion("X-Webhook-Signature is not HS256", header=HEADER) from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise MalformedHeader("X-Webhook-Signature is not a usable JWS", header=HEADER) from None
    raise SignatureMismatch("no secret verified the JWS", scheme="netlify-jws", secrets_tried=len(secrets))


def verify(request: Request) -> None:
    token = request.require_header(HEADER).strip()
    claims = _claims(token, request.require_secrets())
    digest = claims.get("sha256")
    if claims.get("iss") != "netlify" or not isinstance(digest, str):
        raise SignatureMismatch("JWS is not a Netlify body signature", scheme="netlify-jws")
    if not hmac.compare_digest(hashlib.sha256(request.body).hexdigest().encode(), digest.encode("utf-8", "replace")):
        raise SignatureMismatch("body does not match the JWS sha256 claim", scheme="netlify-jws")


def sign(s: SignInput) -> Signed:
    claims = {"iss": "netlify", "sha256": hashlib.sha256(s.body).hexdigest()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return s.signed({HEADER: jwt.encode(claims, s.secret, algorithm="HS256")})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    deploy, state = dig(data, "id"), dig(data, "state")
    event = request.header("x-netlify-event") or ""
    return [EventInfo(dig(data, "site_id"), event, f"{deploy}:{state}" if deploy and state else deploy)]


PROVIDER = register(Provider("netlify", verify, extract=extract, sign=sign))
