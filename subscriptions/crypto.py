"""Envelope encryption for secrets at rest (webhook secrets, destination keys).

Each value gets a fresh 256-bit data key; the value is sealed with AES-GCM under that key and the
data key is itself sealed with AES-GCM under the master key. Rotating the master key then means
re-wrapping data keys, not re-encrypting values, and one leaked data key exposes one value.

Stored form: ``hr2.<b64url(wrap_nonce | wrapped_key)>.<b64url(nonce | ciphertext)>``. The record
kind and id are bound in as associated data, so a ciphertext copied onto another record fails. The
associated data is built by ``context(*parts)``, which length-prefixes every part: joined with ``:``, the
parts ``("integration", "a:b", "c")`` and ``("integration", "a", "b:c")`` would bind the same bytes.

``hr1`` values (sealed before, with the parts joined by ``:``) still open; their owners re-seal them as
``hr2`` on the next write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from subscriptions.errors import SecretError

PREFIX = "hr2"
LEGACY_PREFIX = "hr1"
_NONCE = 12

Context = str | Sequence[str]  # the parts naming what a value belongs to; a str is one part


def context(*parts: str) -> bytes:
    """Associated data from parts: ``hr2;`` then ``<byte length>:<part>`` for each, so no two lists share it."""
    out = bytearray(b"hr2;")
    for part in parts:
        raw = part.encode()
        out += b"%d:%s" % (len(raw), raw)
    return bytes(out)


context_bytes = context  # the name inside SecretBox, whose methods take a ``context`` argument


def _parts(value: Context) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _aad(prefix: str, parts: tuple[str, ...]) -> bytes:
    return context(*parts) if prefix == PREFIX else ":".join(parts).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_master_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def parse_master_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SecretError("master key is not base64") from None
    if len(key) != 32:
        raise SecretError(f"master key must be 32 bytes (base64 of 32 random bytes), got {len(key)}")
    return key


class SecretBox:
    """Seals and opens secret values with a master key."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) != 32:
            raise ValueError("master key must be 32 bytes")
        self._master = AESGCM(master_key)
        # A key of its own for fingerprints, so a fingerprint says nothing about the master key.
        self._fingerprints = hmac.new(master_key, b"hookrouter fingerprint", hashlib.sha256).digest()

    def fingerprint(self, value: str, *, context: Context) -> str:
        """A stable name for a secret that tells nothing about it without the master key (an unkeyed hash of a
        short secret could be searched): HMAC-SHA256 over the context and the value, 16 hex digits."""
        message = context_bytes(*_parts(context)) + value.encode()
        return hmac.new(self._fingerprints, message, hashlib.sha256).hexdigest()[:16]

    def seal(self, plaintext: str, *, context: Context) -> str:
        data_key = AESGCM.generate_key(bit_length=256)
        aad = _aad(PREFIX, _parts(context))
        wrap_nonce, nonce = os.urandom(_NONCE), os.urandom(_NONCE)
        wrapped = self._master.encrypt(wrap_nonce, data_key, aad)
        sealed = AESGCM(data_key).encrypt(nonce, plaintext.encode(), aad)
        return f"{PREFIX}.{_b64(wrap_nonce + wrapped)}.{_b64(nonce + sealed)}"

    def open(self, token: str, *, context: Context) -> str:
        parts = _parts(context)
        try:
            prefix, wrapped_part, sealed_part = token.split(".")
            if prefix not in (PREFIX, LEGACY_PREFIX):
                raise ValueError("unknown format")
            wrapped, sealed = _unb64(wrapped_part), _unb64(sealed_part)
            aad = _aad(prefix, parts)
            data_key = self._master.decrypt(wrapped[:_NONCE], wrapped[_NONCE:], aad)
            return AESGCM(data_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], aad).decode()
        except (ValueError, InvalidTag, binascii.Error, UnicodeDecodeError):
            # Never echo the token: it is ciphertext of a secret, and the context names the record.
            raise SecretError(f"cannot decrypt a stored secret of {':'.join(parts)} (wrong master key?)") from None


def is_current(token: str) -> bool:
    """Whether a sealed value is in the current form (else its owner re-seals it on the next write)."""
    return token.startswith(PREFIX + ".")
