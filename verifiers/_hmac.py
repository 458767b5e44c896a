"""Shared primitives: HMAC digests, constant-time comparison, timestamp windows, safe decoding."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

from verifiers.errors import SECRET_SCHEMES, MalformedHeader, SignatureMismatch, TimestampOutOfRange

DEFAULT_TOLERANCE_S = 300


def hmac_digest(secret: bytes, message: bytes, algorithm: str = "sha256") -> bytes:
    return hmac.new(secret, message, algorithm).digest()


def hmac_hex(secret: bytes, message: bytes, algorithm: str = "sha256") -> str:
    return hmac.new(secret, message, algorithm).hexdigest()


def hmac_b64(secret: bytes, message: bytes, algorithm: str = "sha256") -> str:
    return base64.b64encode(hmac.new(secret, message, algorithm).digest()).decode()


def fingerprint(value: str | bytes) -> str:
    """A short, non-reversible tag of an expected signature, safe to show an operator.

    Eight hex chars of SHA-256 over the value: enough to tell "the same expected value as last time"
    apart from "a different one", far too little to forge anything.
    """
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()[:8]


def parse_timestamp(raw: str, *, scale: int = 1) -> float:
    """Parse an integer timestamp header in seconds (``scale=1``) or milliseconds (``scale=1000``)."""
    text = raw.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        raise MalformedHeader("timestamp is not an unsigned integer", header_value_length=len(raw))
    return int(text) / scale


def check_window(ts: float, *, now: float, tolerance_s: float, future_s: float | None = None) -> None:
    """Reject timestamps too far in the past *and* too far in the future.

    ``future_s`` defaults to the same tolerance; a provider that never stamps ahead of its own clock
    (Box) can pass a smaller allowance.
    """
    skew = now - ts
    ahead = tolerance_s if future_s is None else future_s
    if skew > tolerance_s or -skew > ahead:
        raise TimestampOutOfRange(
            "timestamp outside the accepted window", skew_s=round(skew, 3), tolerance_s=tolerance_s
        )


def check_timestamp(raw: str, *, now: float, tolerance_s: float = DEFAULT_TOLERANCE_S, scale: int = 1) -> float:
    ts = parse_timestamp(raw, scale=scale)
    check_window(ts, now=now, tolerance_s=tolerance_s)
    return ts


def _as_bytes(value: str | bytes) -> bytes:
    # compare_digest on str needs ASCII: compare bytes so odd input cannot raise TypeError.
    return value if isinstance(value, bytes) else value.encode("utf-8", "replace")


def matches(expected: str | bytes, candidates: Iterable[str | bytes]) -> bool:
    want = _as_bytes(expected)
    found = False
    # Every candidate is compared (no early exit) so the time taken does not depend on which matched.
    for candidate in candidates:
        found |= hmac.compare_digest(want, _as_bytes(candidate))
    return found


def require_any(expected: Iterable[str | bytes], candidates: Iterable[str | bytes], **diagnostics: object) -> None:
    """Pass when any expected value (one per active secret) equals any received candidate."""
    wanted = list(expected)
    received = list(candidates)
    hit = False
    for want in wanted:
        hit |= matches(want, received)
    if not hit:
        if diagnostics.get("scheme") not in SECRET_SCHEMES:
            diagnostics.setdefault("expected_fingerprints", [fingerprint(w) for w in wanted])
        raise SignatureMismatch(
            "no signature matched", secrets_tried=len(wanted), signatures_received=len(received), **diagnostics
        )


def b64decode_strict(value: str) -> bytes:
    """Base64 (standard or URL-safe, padding optional) or MalformedHeader."""
    text = value.strip()
    try:
        raw = text.encode("ascii")
        padded = raw + b"=" * (-len(raw) % 4)
        if b"-" in raw or b"_" in raw:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise MalformedHeader("value is not valid base64") from None


def b64digest_strict(value: str) -> bytes:
    """A received base64 signature, decoded; MalformedHeader unless it is the canonical encoding of its bytes.

    A digest's last base64 character carries bits past its end; decoders ignore them, so several strings decode
    to one digest. Providers' own checks compare the strings (Sanity's toolkit rejects ``...N1`` where ``...N0``
    was signed), and so do we: only the encoding a signer produces is accepted.
    """
    decoded = b64decode_strict(value)
    text = value.strip().rstrip("=")
    urlsafe = "-" in text or "_" in text
    again = (base64.urlsafe_b64encode(decoded) if urlsafe else base64.b64encode(decoded)).decode().rstrip("=")
    if again != text:
        raise MalformedHeader("value is not canonical base64")
    return decoded


def hexdecode_strict(value: str) -> bytes:
    try:
        return bytes.fromhex(value.strip())
    except ValueError:
        raise MalformedHeader("value is not valid hex") from None
