"""Declarative HMAC verification for custom webhooks, and code entry points for the rest.

Not a provider (it registers nothing): the router builds an ``HmacSpec`` from an operator's custom
webhook definition at configuration time and calls ``verify_spec`` per request.

An ``HmacSpec`` describes the usual shape of a home-grown scheme::

    HmacSpec.parse({
        "algorithm": "sha256",              # sha1 | sha256 | sha512
        "encoding": "hex",                  # hex | base64
        "signature_header": "X-Signature",
        "prefix": "sha256=",                # stripped from each signature before decoding
        "separator": ",",                   # several signatures in one header (rotation)
        "signed_content": "{timestamp}.{body}",
        "timestamp_header": "X-Timestamp",  # checked both ways against tolerance_s
        "timestamp_unit": "s",              # s | ms
        "tolerance_s": 300,
    })

``signed_content`` is a template over ``{body}`` (the raw body bytes, exactly once), ``{timestamp}``
(the timestamp header's value as received), ``{url}``, ``{method}`` and ``{header:NAME}``; ``{{`` and
``}}`` are literal braces and all literal text is UTF-8. The signed bytes are assembled piece by piece,
so the body is never decoded. Every secret is used literally (UTF-8) as an HMAC key; signatures are
compared as decoded bytes, so hex case and base64 padding do not matter.

For a scheme no spec can express, ``load_entry_point("package.module:function")`` loads a callable
with ``verify_spec``'s keyword arguments minus ``spec``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, Protocol, cast

from verifiers._core import Request, build_request
from verifiers._hmac import b64decode_strict, check_window, hexdecode_strict, hmac_digest, parse_timestamp, require_any
from verifiers.errors import MalformedHeader, SignatureMismatch, VerificationError

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64"]
TimestampUnit = Literal["s", "ms"]

ALGORITHMS: tuple[str, ...] = ("sha1", "sha256", "sha512")
ENCODINGS: tuple[str, ...] = ("hex", "base64")
TIMESTAMP_UNITS: tuple[str, ...] = ("s", "ms")
MAX_TOLERANCE_S = 7 * 24 * 3600
_PLACEHOLDERS = ("body", "timestamp", "url", "method")
# RFC 9110 token characters: anything else cannot be a header name.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

# One piece of the signed content: ("literal", text) or (placeholder, header name or "").
Part = tuple[str, str]


def _parse_template(template: str, errors: list[str]) -> tuple[Part, ...]:
    parts: list[Part] = []
    position = 0
    for match in _TEMPLATE_TOKEN.finditer(template):
        if match.start() > position:
            parts.append(("literal", template[position : match.start()]))
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(("literal", token[0]))
        elif match.group(1) is None:
            errors.append(f"signed_content has an unmatched {token!r} at {match.start()} (write {token * 2})")
        else:
            parts.append(_placeholder(match.group(1), errors))
    if position < len(template):
        parts.append(("literal", template[position:]))
    return tuple(parts)


def _placeholder(name: str, errors: list[str]) -> Part:
    if name in _PLACEHOLDERS:
        return (name, "")
    if name.startswith("header:"):
        header = name.removeprefix("header:")
        if not _HEADER_NAME.fullmatch(header):
            errors.append(f"signed_content {{header:{header}}} is not a valid header name")
        return ("header", header.lower())
    errors.append(f"signed_content has unknown placeholder {{{name}}} (use body, timestamp, url, method, header:NAME)")
    return ("literal", "")


def _check_choice(errors: list[str], name: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        errors.append(f"{name} must be one of {', '.join(choices)} (got {value!r})")


def _check_header(errors: list[str], name: str, value: object, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value):
        errors.append(f"{name} must be a header name (got {value!r})")


def _check_template(spec: HmacSpec, parts: tuple[Part, ...], errors: list[str]) -> None:
    kinds = [kind for kind, _ in parts]
    if kinds.count("body") != 1:
        errors.append("signed_content must contain {body} exactly once")
    signs_ts = "timestamp" in kinds or (
        isinstance(spec.timestamp_header, str) and ("header", spec.timestamp_header.lower()) in parts
    )
    if "timestamp" in kinds and spec.timestamp_header is None:
        errors.append("signed_content uses {timestamp} but timestamp_header is not set")
    if spec.timestamp_header is not None and not signs_ts:
        errors.append("timestamp_header is set but signed_content does not sign it ({timestamp})")


def _check_fields(spec: HmacSpec, errors: list[str]) -> None:
    _check_choice(errors, "algorithm", spec.algorithm, ALGORITHMS)
    _check_choice(errors, "encoding", spec.encoding, ENCODINGS)
    _check_choice(errors, "timestamp_unit", spec.timestamp_unit, TIMESTAMP_UNITS)
    _check_header(errors, "signature_header", spec.signature_header)
    _check_header(errors, "timestamp_header", spec.timestamp_header, optional=True)
    if not isinstance(spec.prefix, str):
        errors.append(f"prefix must be a string (got {spec.prefix!r})")
    if spec.separator is not None and (not isinstance(spec.separator, str) or not spec.separator):
        errors.append(f"separator must be a non-empty string or null (got {spec.separator!r})")
    if (
        isinstance(spec.separator, str)
        and isinstance(spec.prefix, str)
        and spec.separator
        and spec.separator in spec.prefix
    ):
        errors.append("separator must not occur inside prefix")
    tolerance = spec.tolerance_s
    if isinstance(tolerance, bool) or not isinstance(tolerance, int) or not 0 <= tolerance <= MAX_TOLERANCE_S:
        errors.append(f"tolerance_s must be an integer from 0 to {MAX_TOLERANCE_S} (got {tolerance!r})")


@dataclass(frozen=True, slots=True)
class HmacSpec:
    """A custom webhook's HMAC scheme, validated when it is built (``ValueError`` lists every problem)."""

    algorithm: Algorithm
    encoding: Encoding
    signature_header: str
    prefix: str = ""
    separator: str | None = None
    signed_content: str = "{body}"
    timestamp_header: str | None = None
    timestamp_unit: TimestampUnit = "s"
    tolerance_s: int = 300
    parts: tuple[Part, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        errors: list[str] = []
        _check_fields(self, errors)
        parts: tuple[Part, ...] = ()
        if isinstance(self.signed_content, str):
            parts = _parse_template(self.signed_content, errors)
            _check_template(self, parts, errors)
        else:
            errors.append(f"signed_content must be a string (got {self.signed_content!r})")
        if errors:
            raise ValueError("invalid HMAC spec: " + "; ".join(errors))
        object.__setattr__(self, "parts", parts)

    @classmethod
    def parse(cls, mapping: Mapping[str, Any]) -> HmacSpec:
        """Build a spec from configuration (JSON/YAML), rejecting unknown and missing keys."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"invalid HMAC spec: expected a mapping (got {type(mapping).__name__})")
        known = {f.name for f in fields(cls) if f.init}
        required = {"algorithm", "encoding", "signature_header"}
        errors = [f"unknown key {key!r}" for key in sorted(map(str, mapping)) if key not in known]
        missing = sorted(required - set(mapping))
        errors += [f"missing required key {key!r}" for key in missing]
        if not missing:
            try:
                spec = cls(**{key: mapping[key] for key in known if key in mapping})
            except ValueError as exc:  # report field problems together with the unknown keys
                errors.append(str(exc).removeprefix("invalid HMAC spec: "))
        if errors:
            raise ValueError("invalid HMAC spec: " + "; ".join(errors))
        return spec


def _signed_bytes(spec: HmacSpec, request: Request, timestamp: str) -> bytes:
    pieces: list[bytes] = []
    for kind, value in spec.parts:
        if kind == "body":
            pieces.append(request.body)
        elif kind == "literal":
            pieces.append(value.encode())
        elif kind == "timestamp":
            pieces.append(timestamp.encode("utf-8", "replace"))
        elif kind == "url":
            pieces.append(request.public_url().encode("utf-8", "replace"))
        elif kind == "method":
            pieces.append(request.method.encode("utf-8", "replace"))
        else:
            pieces.append(request.require_header(value).encode("utf-8", "replace"))
    return b"".join(pieces)


def _decode(spec: HmacSpec, value: str) -> bytes:
    return hexdecode_strict(value) if spec.encoding == "hex" else b64decode_strict(value)


def _received(spec: HmacSpec, header: str) -> list[bytes]:
    items = header.split(spec.separator) if spec.separator else [header]
    found: list[bytes] = []
    for item in (i.strip() for i in items):
        if not item or not item.startswith(spec.prefix):
            continue
        try:
            found.append(_decode(spec, item.removeprefix(spec.prefix)))
        except MalformedHeader:
            continue  # one garbled entry must not hide a valid one beside it
    if not found:
        raise MalformedHeader(
            f"{spec.signature_header} holds no {spec.encoding} signature", header=spec.signature_header.lower()
        )
    return found


def _timestamp(spec: HmacSpec, request: Request) -> str:
    if spec.timestamp_header is None:
        return ""
    raw = request.require_header(spec.timestamp_header.lower())
    ts = parse_timestamp(raw, scale=1000 if spec.timestamp_unit == "ms" else 1)
    check_window(ts, now=request.now, tolerance_s=spec.tolerance_s)
    return raw


def verify_spec(
    spec: HmacSpec,
    *,
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    method: str = "POST",
    url: str = "",
    now: float,
) -> None:
    """Return None when the request matches ``spec``; raise a ``VerificationError`` otherwise."""
    request = build_request(secrets=secrets, headers=headers, body=body, method=method, url=url, now=now)
    header = request.require_header(spec.signature_header.lower())
    keys = request.require_secrets()
    timestamp = _timestamp(spec, request)
    received = _received(spec, header)
    message = _signed_bytes(spec, request, timestamp)
    expected = (hmac_digest(k.encode(), message, spec.algorithm) for k in keys)
    require_any(expected, received, scheme=f"custom-hmac-{spec.algorithm}")


class CustomVerifier(Protocol):
    """An operator's verification function: ``verify_spec`` without ``spec``."""

    def __call__(
        self,
        *,
        secrets: Sequence[str],
        headers: Mapping[str, str],
        body: bytes,
        method: str,
        url: str,
        now: float,
    ) -> object: ...


_PROBE: dict[str, object] = {"secrets": (), "headers": {}, "body": b"", "method": "POST", "url": "", "now": 0.0}


def _resolve(reference: str) -> object:
    module_name, sep, qualname = reference.partition(":")
    if not sep or not module_name or not qualname:
        raise ValueError(f"entry point {reference!r} must look like 'package.module:function'")
    try:
        target: object = importlib.import_module(module_name)
        for attribute in qualname.split("."):
            target = getattr(target, attribute)
    except Exception as exc:  # an import runs arbitrary code: report any failure as bad configuration
        raise ValueError(f"entry point {reference!r} cannot be loaded: {type(exc).__name__}: {exc}") from exc
    return target


def _check_signature(reference: str, target: Callable[..., object]) -> None:
    try:
        inspect.signature(target).bind(**_PROBE)
    except TypeError as exc:
        raise ValueError(f"entry point {reference!r} does not accept {', '.join(_PROBE)} as keywords: {exc}") from exc
    except ValueError:
        return  # some builtins have no introspectable signature; calling them is the only test


def load_entry_point(reference: str) -> CustomVerifier:
    """Load ``package.module:function`` at configuration time; ``ValueError`` when unusable.

    The returned callable raises only ``VerificationError``: anything else the operator's code raises
    becomes one (fail closed, cause chained), and a ``False`` return is a ``SignatureMismatch``.
    """
    target = _resolve(reference)
    if not callable(target):
        raise ValueError(f"entry point {reference!r} is not callable")
    function = cast(Callable[..., object], target)
    _check_signature(reference, function)

    def verify(
        *, secrets: Sequence[str], headers: Mapping[str, str], body: bytes, method: str, url: str, now: float
    ) -> None:
        try:
            result = function(secrets=secrets, headers=headers, body=body, method=method, url=url, now=now)
        except VerificationError:
            raise
        except Exception as exc:
            raise VerificationError(f"custom verifier {reference} failed", error=type(exc).__name__) from exc
        if result is not None and result is not True:
            raise SignatureMismatch(f"custom verifier {reference} rejected the request", scheme="custom-entry-point")

    return verify
