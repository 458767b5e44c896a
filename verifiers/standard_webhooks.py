"""Standard Webhooks (and Svix, which uses the same scheme under ``svix-*`` header names).

Docs: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md

Signed string: ``webhook-id + "." + webhook-timestamp + "." + raw_body``.
- ``v1``: HMAC-SHA256, key = base64-decode(secret without its ``whsec_`` prefix), base64 output.
- ``v1a``: Ed25519 over the same string; the secret is the public key, ``whpk_`` + base64.
``webhook-signature`` is a space-separated list of ``version,signature``; any valid entry passes.
Timestamps more than 300 s away from now, in either direction, are rejected.
"""

from __future__ import annotations

import base64
import contextlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, check_timestamp, hmac_digest, require_any
from verifiers.errors import MalformedHeader, MissingSecret, SignatureMismatch, UnsupportedVersion

TOLERANCE_S = 300


def _headers(request: Request) -> tuple[str, str, str]:
    for prefix in ("webhook-", "svix-"):
        if request.header(prefix + "signature") is not None:
            return (
                request.require_header(prefix + "id"),
                request.require_header(prefix + "timestamp"),
                request.require_header(prefix + "signature"),
            )
    return (
        request.require_header("webhook-id"),
        request.require_header("webhook-timestamp"),
        request.require_header("webhook-signature"),
    )


def _signatures(header: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for entry in header.split(" "):
        version, sep, value = entry.partition(",")
        if sep and value:
            found.setdefault(version, []).append(value)
    if not found:
        raise MalformedHeader("webhook-signature has no version,signature entry", header="webhook-signature")
    return found


def hmac_key(secret: str) -> bytes:
    try:
        key = b64decode_strict(secret.removeprefix("whsec_"))
    except MalformedHeader:
        raise MissingSecret("secret is not base64 after its whsec_ prefix") from None
    if not key:
        # HMAC with an empty key is computable by anyone: "whsec_" alone must not verify anything.
        raise MissingSecret("secret decodes to an empty key")
    return key


def _hmac_keys(secrets: list[str]) -> list[bytes]:
    # One malformed secret in a rotation set must not lock out the others.
    keys: list[bytes] = []
    for secret in secrets:
        with contextlib.suppress(MissingSecret):
            keys.append(hmac_key(secret))
    return keys


def _ed25519_ok(secret: str, message: bytes, signatures: list[str]) -> bool:
    try:
        key = Ed25519PublicKey.from_public_bytes(b64decode_strict(secret.removeprefix("whpk_")))
    except (MalformedHeader, ValueError):
        return False
    for sig in signatures:
        try:
            key.verify(b64decode_strict(sig), message)
            return True
        except (MalformedHeader, InvalidSignature, ValueError):
            continue
    return False


def verify(request: Request) -> None:
    msg_id, timestamp, header = _headers(request)
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    signatures = _signatures(header)
    message = msg_id.encode() + b"." + timestamp.encode() + b"." + request.body
    public = [s for s in secrets if s.startswith("whpk_")]
    keys = _hmac_keys([s for s in secrets if not s.startswith("whpk_")])
    if not public and not keys:
        raise MissingSecret("no secret is a usable whsec_ or whpk_ key")
    if public and signatures.get("v1a") and any(_ed25519_ok(k, message, signatures["v1a"]) for k in public):
        return
    if not signatures.get("v1"):
        if public:
            raise SignatureMismatch("no v1a signature matched", secrets_tried=len(public))
        raise UnsupportedVersion("webhook-signature has no v1 entry", versions=sorted(signatures))
    expected = (base64.b64encode(hmac_digest(key, message)).decode() for key in keys)
    require_any(expected, signatures["v1"], scheme="standard-webhooks-v1")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    delivery = request.header("webhook-id") or request.header("svix-id") or ""
    return [EventInfo("", dig(data, "type"), delivery)]


def sign(s: SignInput) -> Signed:
    """``v1`` with a ``whsec_`` secret; Svix's header names when signing as ``svix``."""
    if s.secret.startswith("whpk_"):
        raise NotSignable("a whpk_ public key verifies v1a signatures but cannot make them")
    try:
        key = hmac_key(s.secret)
    except MissingSecret:
        raise NotSignable("a Standard Webhooks secret is whsec_ followed by base64") from None
    prefix = "svix-" if s.name == "svix" else "webhook-"
    msg_id = s.given(prefix + "id", s.delivery_id("msg_"))
    ts = str(int(s.now))
    digest = hmac_digest(key, msg_id.encode() + b"." + ts.encode() + b"." + s.body)
    return s.signed(
        {
            prefix + "id": msg_id,
            prefix + "timestamp": ts,
            prefix + "signature": "v1," + base64.b64encode(digest).decode(),
        }
    )


PROVIDER = register(Provider("standard_webhooks", verify, extract=extract, aliases=("svix",), sign=sign))
