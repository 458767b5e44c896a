"""JSON as RFC 8259 has it: UTF-8 text, no ``NaN``, ``Infinity``, numbers too large for a float, or lone surrogates;
and, as §9 lets a parser, no deeper than ``MAX_DEPTH``.

Python's ``json`` accepts those extensions: it turns ``1e999`` into ``inf``, and an escaped lone UTF-16 surrogate
(``"\\ud800"``) into a str that no UTF-8 encoder takes. A workflow runner in another language then fails on the
stored payload or reads a different value, and the router itself fails to store, log or answer the string. It
also reads nesting up to its own recursion limit (about 1,000 levels), which pydantic and orjson refuse to write
past 255. Bodies the router accepts from callers (the SDK's, the admin API's) are parsed with ``loads``, so such a
body is refused at the door.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from router.errors import RouterError

MAX_DEPTH = 128  # arrays and objects within each other: half of pydantic's and orjson's 255, wrappers added

_CONTAINERS = (dict, list)


class NotStrictJson(RouterError, ValueError):
    """The text is JSON to Python but not to RFC 8259 (a non-finite number, a lone surrogate, not UTF-8), or is
    nested deeper than ``MAX_DEPTH``."""

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


def _within(doc: Any, depth: int) -> bool:
    """Whether ``doc`` nests arrays and objects at most ``depth`` deep: one pass per level, over containers only."""
    level = [doc] if type(doc) in _CONTAINERS else []
    for _ in range(depth):
        if not level:
            return True
        level = [v for n in level for v in (n.values() if type(n) is dict else n) if type(v) in _CONTAINERS]
    return not level


def loads(raw: bytes | str) -> Any:
    """``json.loads`` refusing what RFC 8259 does not allow and nesting past ``MAX_DEPTH`` (NotStrictJson, a
    ValueError as ``json.loads`` raises for bad JSON)."""
    try:
        # Strict UTF-8 (a BOM skipped, as json.loads does): json.loads itself guesses UTF-16 and UTF-32 too and
        # decodes with surrogatepass, which lets an encoded surrogate through unescaped.
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise NotStrictJson(f"not UTF-8 text (byte {exc.start})") from None
    try:
        doc = json.loads(text, parse_constant=_constant, parse_float=_float)
    except RecursionError:
        raise NotStrictJson(f"nested deeper than {MAX_DEPTH} levels") from None
    # Each level holds at least one bracket: a body with few of them is shallow, and only others are walked.
    if text.count("[") + text.count("{") > MAX_DEPTH and not _within(doc, MAX_DEPTH):
        raise NotStrictJson(f"nested deeper than {MAX_DEPTH} levels")
    if _LONE_ESCAPE.search(text):
        found = _lone_surrogate(doc)
        if found is not None:
            char = _SURROGATE.search(found).group()  # type: ignore[union-attr]
            raise NotStrictJson(f"a string holds a lone UTF-16 surrogate (\\u{ord(char):04x}), which is not text")
    return doc


def refusal(exc: Exception) -> str:
    """What to tell a caller whose body ``loads`` refused: what RFC 8259 does not allow, when that is the reason."""
    return f"the body is not valid JSON: {exc}" if isinstance(exc, NotStrictJson) else "the body is not valid JSON"
