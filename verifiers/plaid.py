"""Plaid webhooks: an ES256 JWT over the body's SHA-256.

Docs: https://plaid.com/docs/api/webhooks/webhook-verification/

``Plaid-Verification`` carries a JWT signed ES256 whose header names the signing key (``kid``) and whose
claims are ``iat`` and ``request_body_sha256`` (lowercase hex SHA-256 of the raw body). Plaid serves the
public key at ``/webhook_verification_key/get``; a verifier does no I/O, so the key is configured as a
secret: the JWK as JSON (``{"kty": "EC", "crv": "P-256", "kid": ..., "x": ..., "y": ...}``) or a PEM
public key. A key with a ``kid`` is used only for tokens naming it. Only ES256 is accepted; ``iat`` must be
within 300 s of now in either direction (Plaid: "no more than 5 minutes old"). Tenant ``item_id``; event
type ``<webhook_type>.<webhook_code>`` (``TRANSACTIONS.SYNC_UPDATES_AVAILABLE``); Plaid names no delivery id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import check_window
from verifiers._jwt import parse_jwt
from verifiers._keys import p256_private_key
from verifiers.errors import MalformedHeader, MissingSecret, SignatureMismatch, UnsupportedVersion

HEADER = "plaid-verification"
TOLERANCE_S = 300
Key = tuple[str | None, ec.EllipticCurvePublicKey]


def _key(secret: str) -> Key | None:
    text = secret.strip()
    try:
        if text.startswith("{"):
            entry = json.loads(text)
            key = jwt.PyJWK(entry).key
            kid = entry.get("kid") if isinstance(entry, dict) else None
        else:
            key, kid = load_pem_public_key(text.encode()), None
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError, UnsupportedAlgorithm, jwt.PyJWTError):
        return None
    return (kid if isinstance(kid, str) else None, key) if isinstance(key, ec.EllipticCurvePublicKey) else None


def _claims(token: str, keys: list[Key]) -> Mapping[str, Any]:
    parsed = parse_jwt(token)  # decoded once; its times are checked by the caller
    if parsed.header.get("alg") != "ES256":
        raise UnsupportedVersion("Plaid-Verification must be ES256", header=HEADER)
    candidates = [key for kid, key in keys if kid is None or kid == parsed.header.get("kid")]
    if any(parsed.verifies(key, "ES256") for key in candidates):
        return parsed.claims
    raise SignatureMismatch("no configured key verifies the token", scheme="plaid-es256", keys_tried=len(candidates))


def verify(request: Request) -> None:
    token = request.require_header(HEADER).strip()
    keys = [k for k in (_key(s) for s in request.require_secrets()) if k is not None]
    if not keys:
        raise MissingSecret("no secret is a P-256 public key (JWK or PEM)")
    claims = _claims(token, keys)
    issued = claims.get("iat")
    if isinstance(issued, bool) or not isinstance(issued, int | float):
        raise MalformedHeader("Plaid-Verification has no numeric iat", header=HEADER)
    check_window(float(issued), now=request.now, tolerance_s=TOLERANCE_S)
    digest = claims.get("request_body_sha256")
    expected = hashlib.sha256(request.body).hexdigest().encode()
    if not isinstance(digest, str) or not hmac.compare_digest(expected, digest.lower().encode("utf-8", "replace")):
        raise SignatureMismatch("body does not match request_body_sha256", scheme="plaid-es256")


def sign(s: SignInput) -> Signed:
    """An ES256 token for the body; the secret is the P-256 private key (PEM), a ``kid=`` entry after it
    names the key in the token's header."""
    key = p256_private_key(s.secret, "Plaid signs with a P-256 private key (PEM)")
    kid = next((e[4:] for e in s.secrets[1:] if e.startswith("kid=")), None)
    header = {"alg": "ES256", "typ": "JWT", **({"kid": kid} if kid else {})}
    claims = {"iat": int(s.now), "request_body_sha256": hashlib.sha256(s.body).hexdigest()}
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    # RFC 6979 nonces: the same request signs to the same token, as every other signer here does.
    der = key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s_value = decode_dss_signature(der)
    return s.signed({HEADER: signing_input + "." + _b64url(r.to_bytes(32, "big") + s_value.to_bytes(32, "big"))})


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, code = dig(data, "webhook_type"), dig(data, "webhook_code")
    return [EventInfo(dig(data, "item_id"), f"{kind}.{code}" if kind and code else kind or code, "")]


PROVIDER = register(Provider("plaid", verify, extract=extract, sign=sign))
