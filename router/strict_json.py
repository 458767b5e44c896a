"""JSON as RFC 8259 has it: UTF-8 text, no ``NaN``, ``Infinity``, numbers too large for a float, or lone surrogates.

Python's ``json`` accepts those extensions: it turns ``1e999`` into ``inf``, and an escaped lone UTF-16 surrogate
(``"\\ud800"``) into a str that no UTF-8 encoder takes. A workflow runner in another language then fails on the
stored payload or reads a different value, and the router itself fails to store, log or answer the string. Bodies
the router accepts from callers (the SDK's, the admin API's) are parsed with ``loads``, so such a body is refused
at the door.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from router.errors import RouterError


class NotStrictJson(RouterError, ValueError):
    """The text is JSON to Python but not to RFC 8259 (a non-finite number, a lone surrogate, not UTF-8)."""

    reason = "not_strict_json"


def _constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"{text[:32]} does not fit a 64-bit float")
    return value


# Once the text is strict UTF-8, a surrogate reaches a parsed str only through a \u escape. This finds every
# escape that may be lone: a high one not followed by a low one, a low one not preceded by a high one whose
# backslash follows another character (after a backslash, "\ud83d" may be text, not an escape). Pairs, as
# ensure_ascii writes every emoji, pass without the exact check, which clears the rare false alarm.
_LONE_ESCAPE = re.compile(  # every branch starts "\\u": the search skips ahead to those two characters
    r"\\u[dD](?:[89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F])"
    r"|[c-fC-F][0-9a-fA-F]{2}(?<![^\\]\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}))"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _lone_surrogate(doc: Any) -> str | None:
    """The first string (member name or value) holding a lone surrogate; a pair was joined into one character."""
    pending = [doc]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return node
        elif isinstance(node, dict):
            pending.extend(node)
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return None


def loads(raw: bytes | str) -> Any:
    """``json.loads`` refusing what RFC 8259 does not allow (NotStrictJson, a ValueError as ``json.loads`` raises
    for bad JSON; RecursionError for nesting deeper than the interpreter's limit, as ``json.loads``)."""
    try:
        # Strict UTF-8 (a BOM skipped, as json.loads does): json.loads itself guesses UTF-16 and UTF-32 too and
        # decodes with surrogatepass, which lets an encoded surrogate through unescaped.
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise NotStrictJson(f"the body is not UTF-8 text (byte {exc.start})") from None
    doc = json.loads(text, parse_constant=_constant, parse_float=_float)
    if _LONE_ESCAPE.search(text):
        found = _lone_surrogate(doc)
        if found is not None:
            char = _SURROGATE.search(found).group()  # type: ignore[union-attr]
            raise NotStrictJson(f"a string holds a lone UTF-16 surrogate (\\u{ord(char):04x}), which is not text")
    return doc


def refusal(exc: Exception) -> str:
    """What to tell a caller whose body ``loads`` refused: what RFC 8259 does not allow, when that is the reason."""
    return f"the body is not valid JSON: {exc}" if isinstance(exc, NotStrictJson) else "the body is not valid JSON"
