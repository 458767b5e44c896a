"""Small helpers for pulling tenant ids and event types out of parsed bodies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs


def dig(data: Any, *path: str | int) -> str:
    """The scalar at ``path`` as a string, or "" when any step is missing or the value is not scalar."""
    node = data
    for step in path:
        if isinstance(step, int):
            if not isinstance(node, list) or not -len(node) <= step < len(node):
                return ""
            node = node[step]
        else:
            if not isinstance(node, dict) or step not in node:
                return ""
            node = node[step]
    if isinstance(node, bool) or node is None or isinstance(node, dict | list):
        return ""
    return str(node)


def first(*values: str) -> str:
    return next((v for v in values if v), "")


def loads(body: bytes) -> Any:
    """JSON or None, never an exception."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def form(body: bytes) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict of first values; {} when undecodable."""
    try:
        parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return {}
    return {key: values[0] for key, values in parsed.items()}
