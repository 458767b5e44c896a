"""Zoom webhooks (x-zm-signature) and the endpoint.url_validation handshake.

Docs: https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events
and https://developers.zoom.us/docs/api/webhooks/#validate-your-webhook-endpoint

Signed string: ``b"v0:" + x-zm-request-timestamp + b":" + raw_body``, HMAC-SHA256 keyed with the app's
Secret Token, lowercase hex with the ``v0=`` prefix in ``x-zm-signature`` (Slack's shape). Zoom names no
window; timestamps more than 300 s away from now, in either direction, are rejected.

Handshake: ``{"event": "endpoint.url_validation", "payload": {"plainToken": "..."}}`` is answered 200 with
``{"plainToken": ..., "encryptedToken": hex(HMAC-SHA256(secret_token, plainToken))}`` within 3 s. The
challenge is signed like any event and is verified first: answering an unsigned one would hand anyone an
HMAC oracle over the secret, and a forged ``v0:{ts}:{body}`` signature with it.
"""

from __future__ import annotations

import json

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, handshake_json, loads
from verifiers._hmac import check_timestamp, fingerprint, hmac_hex, matches
from verifiers.errors import MalformedBody, SignatureMismatch

TOLERANCE_S = 300


def _signing_secret(request: Request) -> str:
    """The active secret that signed the request (the one Zoom holds now), or SignatureMismatch."""
    timestamp = request.require_header("x-zm-request-timestamp")
    signature = request.require_header("x-zm-signature")
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = b"v0:" + timestamp.encode() + b":" + request.body
    expected = ["v0=" + hmac_hex(s.encode(), message) for s in secrets]
    hits = [matches(e, [signature]) for e in expected]  # every secret compared, none skipped
    for secret, hit in zip(secrets, hits, strict=True):
        if hit:
            return secret
    raise SignatureMismatch(
        "no signature matched",
        scheme="zoom-v0",
        secrets_tried=len(secrets),
        expected_fingerprints=[fingerprint(e) for e in expected],
    )


def verify(request: Request) -> None:
    _signing_secret(request)


def handshake(request: Request) -> HandshakeReply | None:
    data = handshake_json(request.body, b"endpoint.url_validation")
    if not isinstance(data, dict) or data.get("event") != "endpoint.url_validation":
        return None
    secret = _signing_secret(request)
    token = dig(data, "payload", "plainToken")
    try:
        raw_token = token.encode()
    except UnicodeEncodeError:  # a lone surrogate escape ("\ud800") is valid JSON but not UTF-8
        raw_token = b""
    if not raw_token:
        raise MalformedBody("endpoint.url_validation has no usable payload.plainToken")
    # Answer with the secret that signed the challenge: during rotation that is the one Zoom checks against.
    reply = {"plainToken": token, "encryptedToken": hmac_hex(secret.encode(), raw_token)}
    return HandshakeReply(200, {"content-type": "application/json"}, json.dumps(reply).encode())


def extract(request: Request) -> list[EventInfo]:
    # Zoom has no per-delivery id in the body or a documented header to deduplicate on.
    data = loads(request.body)
    return [EventInfo(dig(data, "payload", "account_id"), dig(data, "event"), "")]


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    signature = "v0=" + hmac_hex(s.secret.encode(), b"v0:" + ts.encode() + b":" + s.body)
    return s.signed({"x-zm-request-timestamp": ts, "x-zm-signature": signature})


PROVIDER = register(Provider("zoom", verify, handshake, extract, sign=sign))
