"""Standard Webhooks signatures for the deliveries we send to HTTP targets.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md

- ``webhook-id``: the message id, the same on every retry of one delivery (the receiver's dedup key);
- ``webhook-timestamp``: unix seconds of this attempt (receivers reject stale ones, so re-sign each retry);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>``, one entry per
  secret, space-separated, so that during a rotation receivers holding either secret accept the request.

A job's User Settings travel beside the body, which stays the event's: ``x-hook-user-settings`` is their JSON,
base64url without padding, and ``x-hook-user-settings-signature`` signs that header's value exactly as
``webhook-signature`` signs a body (same id, same timestamp), so a Standard Webhooks library verifies it with the
header value as the payload. An unsigned header could be swapped on a replayed request.

A secret is ``whsec_`` + base64 of the key bytes, as Svix and the Standard Webhooks libraries write it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import secrets as _secrets
from collections.abc import Sequence

__all__ = [
    "SECRET_PREFIX",
    "SETTINGS_HEADER_BYTES",
    "generate_secret",
    "secret_key",
    "settings_headers",
    "sign",
    "sign_headers",
]

SECRET_PREFIX = "whsec_"  # noqa: S105  (a format marker, not a secret)
# Servers commonly refuse request heads past 8-16 KiB in all; settings larger than this go as "omitted".
SETTINGS_HEADER_BYTES = 6 * 1024
_KEY_BYTES = 32  # the spec asks for 24 to 64 random bytes; Svix generates 24


def generate_secret() -> str:
    """A fresh random ``whsec_`` secret for a new target."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(_KEY_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret. ValueError for anything else, so bad config fails when saved."""
    return _key(secret)


# A target's secrets sign every job it gets: each is decoded once, not once per signature. Bounded, and holding
# only what the registry snapshot holds already.
@functools.lru_cache(maxsize=1024)
def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a signing secret is whsec_ followed by base64") from None
    if not key:
        # HMAC with an empty key is computable by anyone.
        raise ValueError("a signing secret must not be empty")
    return key


def sign(msg_id: str, timestamp: int, body: bytes, secret: str) -> str:
    """One ``v1,<base64>`` signature entry."""
    message = b"%s.%s.%s" % (msg_id.encode(), str(timestamp).encode(), body)
    # hmac.digest: the one-shot C path, without an HMAC object per signature.
    return "v1," + base64.b64encode(hmac.digest(_key(secret), message, "sha256")).decode()


def _check_msg_id(msg_id: str) -> None:
    # It goes into a header verbatim: printable ASCII only, nothing a header could be split on.
    # (printable ASCII is space to "~"; without the space, "!" to "~")
    if not msg_id or not (msg_id.isascii() and msg_id.isprintable()) or " " in msg_id:
        raise ValueError("a message id is non-empty printable ASCII without spaces")


def sign_headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every secret in ``secrets``."""
    _check_msg_id(msg_id)
    if isinstance(secrets, str):  # a lone str is a Sequence[str] of characters: a classic slip
        raise TypeError("secrets is a sequence of secrets, not one secret")
    if not secrets:
        raise ValueError("at least one signing secret is needed")
    unique = list(dict.fromkeys(secrets))  # a secret listed twice during a rotation signs once
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(sign(msg_id, int(timestamp), body, s) for s in unique),
    }


def settings_headers(msg_id: str, timestamp: int, settings: str, secrets: Sequence[str]) -> dict[str, str]:
    """The User Settings headers for one attempt (``settings``: the job's JSON), or the ``omitted`` marker when
    they do not fit in a header."""
    value = base64.urlsafe_b64encode(settings.encode()).rstrip(b"=")
    if len(value) > SETTINGS_HEADER_BYTES:
        return {"x-hook-user-settings-omitted": "too_large"}
    signature = sign_headers(msg_id, timestamp, value, secrets)["webhook-signature"]
    return {"x-hook-user-settings": value.decode(), "x-hook-user-settings-signature": signature}
