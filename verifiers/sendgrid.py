"""SendGrid (Twilio SendGrid) signed Event Webhook.

Docs: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features

Signed string: ``X-Twilio-Email-Event-Webhook-Timestamp + raw_body`` (bytes concatenated), ECDSA P-256
with SHA-256, DER signature base64 in ``X-Twilio-Email-Event-Webhook-Signature``. The secret is the
verification key from the Mail Settings page: base64 DER SubjectPublicKeyInfo (a PEM ``PUBLIC KEY`` is
accepted as well). SendGrid documents no window; we reject timestamps more than 300 s from now in either
direction. The body is a JSON array of events; each becomes its own event (tenant not in the payload).
"""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._hmac import b64decode_strict, check_timestamp
from verifiers._keys import p256_private_key
from verifiers.errors import MalformedHeader, MissingSecret, SignatureMismatch

TOLERANCE_S = 300
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


def public_key(secret: str) -> ec.EllipticCurvePublicKey | None:
    text = secret.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(b64decode_strict("".join(text.split())))
    except (ValueError, TypeError, UnsupportedAlgorithm, MalformedHeader):
        return None
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    return None


def verify(request: Request) -> None:
    raw_sig = request.require_header(SIGNATURE_HEADER)
    timestamp = request.require_header(TIMESTAMP_HEADER)
    keys = [k for k in (public_key(s) for s in request.require_secrets()) if k is not None]
    if not keys:
        raise MissingSecret("no secret is a P-256 public key (base64 DER or PEM)")
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    signature = b64decode_strict(raw_sig)
    message = timestamp.encode() + request.body
    for key in keys:
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            return
        except (InvalidSignature, ValueError):
            continue
    raise SignatureMismatch("no public key verified the signature", scheme="sendgrid-ecdsa", secrets_tried=len(keys))


def _own_json(event: dict[str, object]) -> bytes | None:
    try:
        return json.dumps(event, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        return None


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    events = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    out: list[EventInfo] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        body = _own_json(event) if isinstance(data, list) else None
        out.append(EventInfo("", dig(event, "event"), dig(event, "sg_event_id"), body))
    return out


def sign(s: SignInput) -> Signed:
    """ECDSA P-256 over timestamp + body; the secret is the private key (PEM)."""
    key = p256_private_key(s.secret, "SendGrid signs with a P-256 private key (PEM)")
    ts = str(int(s.now))
    signature = key.sign(ts.encode() + s.body, ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    return s.signed({SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: ts})


PROVIDER = register(Provider("sendgrid", verify, extract=extract, sign=sign))
