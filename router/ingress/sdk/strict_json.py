"""JSON as RFC 8259 has it: no ``NaN``, ``Infinity`` or numbers too large for a float.

Python's ``json`` accepts those extensions and turns ``1e999`` into ``inf``; a workflow runner in another
language then fails on the stored payload, or reads a different value. Bodies the router accepts from
callers (App Events, Request triggers) are parsed with ``loads`` so such a body is refused at the door.
"""

from __future__ import annotations

import json
import math
from typing import Any

from router.errors import RouterError


class NotStrictJson(RouterError, ValueError):
    """The text is JSON to Python but not to RFC 8259 (a non-finite number)."""

    reason = "not_strict_json"


def _constant(name: str) -> Any:
    raise NotStrictJson(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotStrictJson(f"{text[:32]} does not fit a 64-bit float")
    return value


def loads(raw: bytes | str) -> Any:
    """``json.loads`` refusing non-finite numbers (ValueError, as ``json.loads`` raises for bad JSON)."""
    return json.loads(raw, parse_constant=_constant, parse_float=_float)
