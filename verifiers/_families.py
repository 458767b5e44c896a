"""Scheme families many providers share, built once: a provider module names its header and encoding.

- ``body_hmac``: an HMAC of the raw body in one header (optionally ``prefix``ed, e.g. ``sha256=``);
- ``stamped_hmac``: Stripe's shape, ``t=<ts>,v1=<sig>`` over ``t + "." + body`` with a window both ways;
- ``header_token``: a static secret sent as a header value, compared in constant time;
- ``basic_auth``: ``Authorization: Basic`` with ``user:password`` secrets.

Each returns ``(verify, sign)``, the two halves of one scheme, so they cannot drift apart.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Literal

from verifiers._core import Request, Signed, SignInput
from verifiers._hmac import b64decode_strict, b64digest_strict, check_timestamp, hmac_digest, require_any
from verifiers.errors import MalformedHeader, MissingSecret, NotSignable, UnsupportedVersion

Encoding = Literal["hex", "base64", "base64url"]
Scheme = tuple[Callable[[Request], None], Callable[[SignInput], Signed]]


def encode(digest: bytes, encoding: Encoding) -> str:
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _received(value: str, encoding: Encoding) -> str | bytes:
    # Compare digests for base64 (padding and the alphabet must not matter), lowercase text for hex.
    return value.strip().lower() if encoding == "hex" else b64digest_strict(value)


def body_hmac(
    header: str,
    *,
    scheme: str,
    algorithm: str = "sha256",
    encoding: Encoding = "hex",
    prefix: str = "",
    key: Callable[[str], bytes] = str.encode,
) -> Scheme:
    """``header: prefix + encode(HMAC(key(secret), raw body))``. ``key`` turns a secret into key bytes."""

    def keys(secrets: tuple[str, ...]) -> list[bytes]:
        found: list[bytes] = []
        for secret in secrets:
            try:
                found.append(key(secret))
            except (ValueError, MalformedHeader):
                continue  # one mistyped secret must not hide the others during rotation
        if not found:
            raise MissingSecret("no secret is a usable key for this scheme")
        return found

    def verify(request: Request) -> None:
        value = request.require_header(header).strip()
        if prefix and not value.lower().startswith(prefix.lower()):
            raise UnsupportedVersion(f"{header} does not start with {prefix!r}", header=header)
        received = _received(value[len(prefix) :], encoding)
        expected = (hmac_digest(k, request.body, algorithm) for k in keys(request.require_secrets()))
        if encoding == "hex":
            require_any((d.hex() for d in expected), [received], scheme=scheme)
        else:
            require_any(expected, [received], scheme=scheme)

    def sign(s: SignInput) -> Signed:
        try:
            signing_key = key(s.secret)
        except (ValueError, MalformedHeader):
            raise NotSignable(f"{s.name}'s secret is not a usable key") from None
        return s.signed({header: prefix + encode(hmac_digest(signing_key, s.body, algorithm), encoding)})

    return verify, sign


def parse_stamped(value: str, header: str, *, separator: str = ",", ts_name: str = "t") -> tuple[str, list[str]]:
    """``t=<ts>,v1=<sig>[,v1=<sig>]`` (entries may also be space-separated) → (ts, every v1)."""
    timestamp, signatures = "", []
    for item in value.replace(" ", separator).split(separator):
        name, sep, entry = item.strip().partition("=")
        if sep and name == ts_name:
            timestamp = entry
        elif sep and name == "v1" and entry:
            signatures.append(entry)
    if not timestamp:
        raise MalformedHeader(f"{header} has no {ts_name}= entry", header=header)
    if not signatures:
        raise UnsupportedVersion(f"{header} has no v1 signature", header=header)
    return timestamp, signatures


def stamped_hmac(
    header: str,
    *,
    scheme: str,
    tolerance_s: int = 300,
    scale: int = 1,
    encoding: Encoding = "hex",
    joiner: str = ",",
) -> Scheme:
    """``header: t=<ts>,v1=<sig>``, sig = HMAC-SHA256(secret, ts + "." + body); ts in seconds (``scale=1``) or
    milliseconds (``scale=1000``), checked ``tolerance_s`` both ways. Any v1 entry may match (rotation)."""

    def verify(request: Request) -> None:
        timestamp, signatures = parse_stamped(request.require_header(header), header)
        secrets = request.require_secrets()
        check_timestamp(timestamp, now=request.now, tolerance_s=tolerance_s, scale=scale)
        message = timestamp.encode() + b"." + request.body
        expected = (hmac_digest(s.encode(), message) for s in secrets)
        if encoding == "hex":
            require_any((d.hex() for d in expected), [s.lower() for s in signatures], scheme=scheme)
            return
        received: list[str | bytes] = []
        for signature in signatures:
            try:
                received.append(b64digest_strict(signature))
            except MalformedHeader:
                continue
        require_any(expected, received, scheme=scheme)

    def sign(s: SignInput) -> Signed:
        ts = str(int(s.now * scale))
        digest = hmac_digest(s.secret.encode(), ts.encode() + b"." + s.body)
        return s.signed({header: f"t={ts}{joiner}v1={encode(digest, encoding)}"})

    return verify, sign


def header_token(header: str, *, scheme: str = "header-token") -> Scheme:
    """The secret itself in ``header`` (GitLab's ``X-Gitlab-Token``, Telegram's secret token)."""

    def verify(request: Request) -> None:
        received = request.require_header(header)
        require_any(request.require_secrets(), [received.strip()], scheme=scheme)

    def sign(s: SignInput) -> Signed:
        return s.signed({header: s.secret})

    return verify, sign


def basic_auth(*, scheme: str = "basic-auth") -> Scheme:
    """``Authorization: Basic base64(user:password)``; each secret is one ``user:password`` pair."""

    def verify(request: Request) -> None:
        kind, _, encoded = request.require_header("authorization").strip().partition(" ")
        if kind.lower() != "basic" or not encoded.strip():
            raise MalformedHeader("authorization is not Basic credentials", header="authorization")
        pairs = [s for s in request.require_secrets() if ":" in s]
        if not pairs:
            raise MissingSecret("secrets must be user:password pairs")
        require_any((p.encode() for p in pairs), [b64decode_strict(encoded)], scheme=scheme)

    def sign(s: SignInput) -> Signed:
        if ":" not in s.secret:
            raise NotSignable(f"{s.name}'s secret is a user:password pair")
        return s.signed({"authorization": "Basic " + base64.b64encode(s.secret.encode()).decode()})

    return verify, sign


def v1_list_hmac(header: str, *, scheme: str) -> Scheme:
    """``header: v1=<hex>[,v1=<hex>...]``, HMAC-SHA256 of the raw body; any v1 entry may match (rotation)."""

    def verify(request: Request) -> None:
        entries = [item.strip().partition("=") for item in request.require_header(header).split(",")]
        received = [value.strip().lower() for name, sep, value in entries if sep and name.strip() == "v1"]
        if not received:
            raise UnsupportedVersion(f"{header} has no v1 entry", header=header)
        secrets = request.require_secrets()
        require_any((hmac_digest(s.encode(), request.body).hex() for s in secrets), received, scheme=scheme)

    def sign(s: SignInput) -> Signed:
        return s.signed({header: "v1=" + hmac_digest(s.secret.encode(), s.body).hex()})

    return verify, sign
