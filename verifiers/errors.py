"""Verification errors.

Every failure ``verifiers.verify`` or ``verifiers.handshake`` can raise is one of these; each carries a
stable, low-cardinality ``reason`` code that the router returns to the caller and counts in metrics.

    VerificationError
    ├── UnknownProvider          unknown_provider
    ├── MissingSecret            missing_secret
    ├── MissingPublicUrl         missing_public_url
    ├── MissingHeader            missing_header
    ├── MalformedHeader          malformed_header
    ├── MalformedBody            malformed_body
    ├── UnsupportedVersion       unsupported_version
    ├── TimestampOutOfRange      timestamp_out_of_range
    └── SignatureMismatch        signature_mismatch

``diagnostics`` holds facts an operator can act on (header names seen, scheme tried, timestamp skew,
how many secrets were tried, a short fingerprint of an expected HMAC); it never holds a secret, a
body, or a full signature.

``SECRET_SCHEMES`` names the schemes where the expected value *is* the secret (a URL token, Basic
credentials, Graph's clientState): a hash of it would let anyone who reads the diagnostics test guesses
offline, so their failures carry no fingerprint at all.
"""

from __future__ import annotations

from typing import Any

SECRET_SCHEMES = frozenset(
    {"mailchimp-url-secret", "pipedrive-basic", "client-state", "url-token", "header-token", "basic-auth", "passcode"}
)


class VerificationError(Exception):
    """A request failed verification. ``reason`` is a stable code for logs, metrics and the 401 body."""

    reason = "invalid"

    def __init__(self, message: str = "", **diagnostics: Any) -> None:
        super().__init__(message or self.reason)
        self.diagnostics: dict[str, Any] = diagnostics


class UnknownProvider(VerificationError):
    reason = "unknown_provider"


class MissingSecret(VerificationError):
    reason = "missing_secret"


class MissingPublicUrl(VerificationError):
    """A scheme that signs the URL the provider called, and no public URL is configured to check it against.

    The router never rebuilds that URL from the request's Host or X-Forwarded-* headers: anyone can set
    those, and a signature made for another host would then verify here.
    """

    reason = "missing_public_url"


class MissingHeader(VerificationError):
    reason = "missing_header"


class MalformedHeader(VerificationError):
    reason = "malformed_header"


class MalformedBody(VerificationError):
    reason = "malformed_body"


class UnsupportedVersion(VerificationError):
    reason = "unsupported_version"


class TimestampOutOfRange(VerificationError):
    reason = "timestamp_out_of_range"


class SignatureMismatch(VerificationError):
    reason = "signature_mismatch"
