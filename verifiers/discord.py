"""Discord interactions and webhook events (Ed25519, asymmetric).

Docs: https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers
and https://discord.com/developers/docs/events/webhook-events

Signed string: ``X-Signature-Timestamp + raw_body`` (bytes concatenated), Ed25519, signature hex in
``X-Signature-Ed25519``. The secret is the application's public key: 64 hex characters from the
Developer Portal (a PEM ``PUBLIC KEY`` is accepted as well).

Discord documents no replay window; we reject timestamps more than 300 s from now in either direction
(router policy: Discord signs at send time and does not retry interactions).

Handshakes, answered only after the signature verifies (Discord also probes with bad signatures and
expects 401):
- interactions endpoint: PING (``type`` 1, no ``event``) → 200 ``{"type":1}`` (PONG);
- webhook events endpoint: PING (``type`` 0) → 204.
"""

from __future__ import annotations

import binascii
import json

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

from verifiers._core import EventInfo, HandshakeReply, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, handshake_json, loads
from verifiers._hmac import check_timestamp
from verifiers.errors import MalformedHeader, MissingSecret, SignatureMismatch

TOLERANCE_S = 300
_INTERACTION_TYPES = {
    1: "PING",
    2: "APPLICATION_COMMAND",
    3: "MESSAGE_COMPONENT",
    4: "APPLICATION_COMMAND_AUTOCOMPLETE",
    5: "MODAL_SUBMIT",
}


def public_key(secret: str) -> Ed25519PublicKey | None:
    """The Ed25519 key in ``secret`` (hex or PEM), or None when it is not one."""
    text = secret.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
            return key if isinstance(key, Ed25519PublicKey) else None
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(text))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None


def _keys(request: Request) -> list[Ed25519PublicKey]:
    keys = [k for k in (public_key(s) for s in request.require_secrets()) if k is not None]
    if not keys:
        raise MissingSecret("no secret is an Ed25519 public key (64 hex characters or PEM)")
    return keys


def _signature(raw: str) -> bytes:
    try:
        sig = binascii.unhexlify(raw.strip())
    except (binascii.Error, ValueError):
        raise MalformedHeader("x-signature-ed25519 is not hex", header="x-signature-ed25519") from None
    if len(sig) != 64:
        raise MalformedHeader("x-signature-ed25519 is not 64 bytes", header="x-signature-ed25519")
    return sig


def verify(request: Request) -> None:
    raw_sig = request.require_header("x-signature-ed25519")
    timestamp = request.require_header("x-signature-timestamp")
    keys = _keys(request)
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    sig = _signature(raw_sig)
    message = timestamp.encode() + request.body
    for key in keys:
        try:
            key.verify(sig, message)
            return
        except InvalidSignature:
            continue
    raise SignatureMismatch("no public key verified the signature", scheme="discord-ed25519", secrets_tried=len(keys))


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b'"type"')
    if not isinstance(data, dict) or isinstance(data.get("type"), bool):
        return None
    if data.get("type") == 1 and "event" not in data:
        verify(request)
        return HandshakeReply(200, {"content-type": "application/json"}, json.dumps({"type": 1}).encode())
    if data.get("type") == 0:
        verify(request)
        return HandshakeReply(204)
    return None


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    application = dig(data, "application_id")
    if isinstance(data, dict) and isinstance(data.get("event"), dict):  # webhook event
        event = data["event"]
        tenant = first(dig(event, "data", "guild", "id"), dig(event, "data", "guild_id"), application)
        return [EventInfo(tenant, dig(event, "type"), "")]
    kind = data.get("type") if isinstance(data, dict) else None
    event_type = _INTERACTION_TYPES.get(kind, "") if isinstance(kind, int) and not isinstance(kind, bool) else ""
    tenant = first(
        dig(data, "guild_id"),
        dig(data, "authorizing_integration_owners", "0"),
        dig(data, "authorizing_integration_owners", "1"),
        application,
    )
    return [EventInfo(tenant, event_type, dig(data, "id"))]


def private_key(secret: str) -> Ed25519PrivateKey:
    """The signing key: a PEM ``PRIVATE KEY`` or the 32-byte seed as 64 hex characters."""
    text = secret.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(text))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise NotSignable("Discord signs with an Ed25519 private key (PEM or 64 hex characters)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise NotSignable("Discord signs with an Ed25519 private key")
    return key


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    signature = private_key(s.secret).sign(ts.encode() + s.body).hex()
    return s.signed({"x-signature-ed25519": signature, "x-signature-timestamp": ts})


PROVIDER = register(Provider("discord", verify, handshake, extract, sign=sign))
