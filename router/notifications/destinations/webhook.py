"""Generic webhook destinations, and the pieces every destination template shares.

``render`` POSTs ``destination.url`` with the destination's headers (plus ``Content-Type:
application/json`` unless one is given) and the payload template rendered over the event.

Payload templates
-----------------
``payload`` is JSON text in which references to the event are replaced. A reference is ``{{``, a path,
``}}``; the path is ``$.event`` followed by steps in the syntax of ``subscriptions.paths``: ``.name``,
``[0]`` (a list position) and ``['a key']`` (any other key). Examples: ``{{$.event}}``,
``{{$.event.message}}``, ``{{$.event.data.error}}``, ``{{$.event.workflow.name}}``,
``{{$.event.user.metadata['plan name']}}``. Spaces inside the braces are allowed. A reference can stand:

1. as a whole JSON value: ``{"event": {{$.event}}}``: the value, JSON-encoded;
2. as a whole JSON string: ``{"text": "{{$.event.message}}"}``: the same, the value JSON-encoded (a
   string stays a string, an object stays an object);
3. inside a longer string: ``{"text": "Failed: {{$.event.workflow.name}}"}``: the value's text spliced
   into the string: strings as they are, numbers and booleans as JSON writes them, objects and arrays
   as compact JSON, a missing value as nothing.

A path that names nothing (a missing key, an index out of range) gives ``null`` in places 1 and 2.
Every value goes through ``json.dumps``, so event text (quotes, newlines, backslashes, ``}}``) can never
break the JSON around it, and replaced text is never scanned for references again. Inside a string,
``{{`` not followed by ``$`` is plain text. An unset or blank payload means the whole event:
``{{$.event}}``. ``validate`` renders the template over a sample event when the destination is saved,
so a template that cannot produce JSON is rejected then rather than at the first failure.

Shared pieces
-------------
``Rendered`` (the request), ``RenderError`` (a destination whose configuration cannot produce one) and
the helpers the vendor templates use: header checks, the ``options["base_url"]`` override, JSON
encoding and safe reads of event fields. Nothing here does I/O or logs; secrets (the URL, header
values) are read from the destination when rendering and never put in an exception message.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from router.errors import RouterError
from subscriptions import paths
from subscriptions.destinations import Destination

__all__ = [
    "CONTENT_TYPE_JSON",
    "RenderError",
    "Rendered",
    "base_url",
    "check_url",
    "dumps",
    "encode",
    "field",
    "header_value",
    "merge_headers",
    "render",
    "render_payload",
    "request_headers",
    "text",
    "text_of",
]

CONTENT_TYPE_JSON = "application/json"
MAX_REFERENCE_CHARS = 512  # a reference longer than any sane path: a stray '{{' rather than a path
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # an HTTP header name (RFC 9110 token)
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e]*")  # what httpx can encode and no line break can hide in
_SPECIAL = re.compile(r'"|\{\{')
_ROOT = "$.event"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One HTTP request to send: always a POST."""

    url: str
    headers: dict[str, str]
    body: bytes

    def __repr__(self) -> str:
        # The URL (a Slack webhook) and header values (API keys) are credentials: never in a repr.
        return f"Rendered(headers={sorted(self.headers)}, body_bytes={len(self.body)})"


class RenderError(RouterError, ValueError):
    """A destination whose configuration cannot produce a request. The message names the field, never a
    secret and never event content."""

    reason = "render_error"


# ---------------------------------------------------------------------------------------------------
# Helpers shared by the vendor templates.


def dumps(value: Any) -> str:
    """Compact JSON. Non-JSON values (NaN, sets, cycles, runaway nesting) are a ``RenderError``."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise RenderError("the event cannot be written as JSON") from None


def encode(body: str) -> bytes:
    # A lone surrogate (JSON allows "\ud800") has no UTF-8 form: it becomes "?" rather than an exception.
    return body.encode("utf-8", "replace")


def field(event: Mapping[str, Any], *keys: str) -> Any:
    """``event[k1][k2]...``, or None where any step is missing or not an object."""
    value: Any = event
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text(event: Mapping[str, Any], *keys: str) -> str:
    """The scalar at ``keys`` as text (``""`` when missing); objects and lists as compact JSON."""
    return text_of(field(event, *keys))


def text_of(value: Any) -> str:
    """A value as text: strings as they are, scalars as JSON writes them, the rest as compact JSON."""
    if value is None:
        return ""
    scalar = paths.text_of(value)
    if scalar is not None:
        return scalar
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return ""


def check_url(url: str, what: str) -> None:
    """An absolute http(s) URL with a host. ``what`` names the field: the URL itself may be a secret."""
    if any(c in url for c in " \t\r\n\x00"):
        raise RenderError(f"{what} must not contain whitespace")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        httpx.URL(url)  # what the delivery will parse: an invalid IDNA host fails here, not at send time
    except (ValueError, UnicodeError, httpx.InvalidURL):
        raise RenderError(f"{what} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RenderError(f"{what} must be an http(s) URL with a host")


def base_url(destination: Destination, default: str) -> str:
    """``options["base_url"]`` (a self-hosted instance, an egress proxy, a test server) or ``default``.

    Options are not sealed at rest and are shown by the API, so the override may not carry credentials.
    """
    override = destination.options.get("base_url")
    if override is None:
        return default
    check_url(override, "options.base_url")
    parts = urlsplit(override)
    if parts.username is not None or parts.password is not None:
        raise RenderError("options.base_url must not carry credentials (options are not secret)")
    if parts.query or parts.fragment:
        raise RenderError("options.base_url must not have a query or a fragment")
    return override.rstrip("/")


def request_headers(destination: Destination) -> dict[str, str]:
    """The destination's headers with their secret values, checked so httpx cannot choke on them."""
    out: dict[str, str] = {}
    for name, secret in destination.headers.items():
        if not _TOKEN.fullmatch(name):
            raise RenderError(f"header name {name[:40]!r} is not a valid HTTP header name")
        if not _HEADER_VALUE.fullmatch(secret.get_secret_value()):
            raise RenderError(f"header {name!r}: the value must be printable ASCII on one line")
        out[name] = secret.get_secret_value()
    return out


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, case-insensitively; blank counts as missing."""
    wanted = name.lower()
    value = next((v for k, v in headers.items() if k.lower() == wanted), "")
    return value if value.strip() else None


def merge_headers(headers: Mapping[str, str], fixed: Mapping[str, str]) -> dict[str, str]:
    """``headers`` with ``fixed`` on top: a template's own headers win over a same-named one."""
    names = {k.lower() for k in fixed}
    return {**{k: v for k, v in headers.items() if k.lower() not in names}, **fixed}


# ---------------------------------------------------------------------------------------------------
# The payload template.


@functools.lru_cache(maxsize=1024)
def _path(expression: str) -> paths.Path:
    if not (expression == _ROOT or expression.startswith((_ROOT + ".", _ROOT + "["))):
        raise RenderError(f"payload template: a reference starts with {_ROOT} (got {expression[:60]!r})")
    try:
        # `$.event...` is the `$.body...` of the paths module, with the event as the body.
        return paths.parse("$.body" + expression[len(_ROOT) :])
    except ValueError as exc:
        problem = str(exc).rsplit(": ", 1)[-1]
        raise RenderError(f"payload template: invalid reference {expression[:60]!r}: {problem}") from None


def _lookup(expression: str, event: Mapping[str, Any]) -> Any:
    return paths.evaluate(_path(expression), {"body": event})


def _reference_end(source: str, start: int, where: str = "") -> tuple[str, int]:
    """The expression of the reference whose ``{{`` is at ``start``, and the position after its ``}}``.

    Quotes are tracked so a quoted key may hold ``}}``. ``where`` locates ``source`` for error messages.
    """
    i, quote = start + 2, ""
    limit = min(len(source), start + 2 + MAX_REFERENCE_CHARS)
    while i < limit:
        char = source[i]
        if quote:
            if char == "\\":
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif source.startswith("}}", i):
            return source[start + 2 : i].strip(), i + 2
        i += 1
    raise RenderError(f"payload template: '{{{{' {where or f'at position {start}'} has no matching '}}}}'")


def _is_reference(source: str, start: int) -> bool:
    return source[start + 2 : start + 2 + MAX_REFERENCE_CHARS].lstrip().startswith("$")


def _string_end(source: str, start: int) -> int:
    """The position after the JSON string literal that opens at ``start``."""
    i = start + 1
    while i < len(source):
        if source[i] == "\\":
            i += 2
        elif source[i] == '"':
            return i + 1
        else:
            i += 1
    raise RenderError(f"payload template: the string at position {start} is not closed")


def _render_string(literal: str, position: int, event: Mapping[str, Any]) -> str:
    """One JSON string literal of the template, references replaced (placements 2 and 3)."""
    if "{{" not in literal:
        return literal
    try:
        decoded = json.loads(literal)
    except ValueError:
        raise RenderError(f"payload template: invalid JSON string at position {position}") from None
    pieces: list[str] = []
    i = 0
    while (start := decoded.find("{{", i)) != -1:
        if not _is_reference(decoded, start):
            pieces.append(decoded[i : start + 2])
            i = start + 2
            continue
        expression, end = _reference_end(decoded, start, f"in the string at position {position}")
        if start == 0 and end == len(decoded):
            return dumps(_lookup(expression, event))  # the string is exactly one reference
        pieces.append(decoded[i:start])
        pieces.append(text_of(_lookup(expression, event)))
        i = end
    pieces.append(decoded[i:])
    return dumps("".join(pieces))


def render_payload(template: str | None, event: Mapping[str, Any]) -> str:
    """The payload template rendered over ``event``: JSON text, checked to parse."""
    if template is None or not template.strip():
        return dumps(event)
    out: list[str] = []
    i = 0
    while (match := _SPECIAL.search(template, i)) is not None:
        start = match.start()
        out.append(template[i:start])
        if match.group() == '"':
            i = _string_end(template, start)
            out.append(_render_string(template[start:i], start, event))
        else:
            expression, i = _reference_end(template, start)
            out.append(dumps(_lookup(expression, event)))  # placement 1: a bare JSON value
    out.append(template[i:])
    rendered = "".join(out)
    try:
        json.loads(rendered)
    except json.JSONDecodeError as exc:
        raise RenderError(
            f"payload template does not produce valid JSON: {exc.msg} (rendered position {exc.pos})"
        ) from None
    except (ValueError, RecursionError):
        raise RenderError("payload template does not produce valid JSON") from None
    return rendered


def render(destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered:
    if destination.url is None:
        raise RenderError("a webhook destination needs 'url'")
    url = destination.url.get_secret_value()
    check_url(url, "url")
    headers = request_headers(destination)
    if header_value(headers, "content-type") is None:
        headers = merge_headers(headers, {"Content-Type": CONTENT_TYPE_JSON})
    return Rendered(url, headers, encode(render_payload(destination.payload, event)))
