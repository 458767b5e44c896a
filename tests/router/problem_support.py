"""What an admin API error body said before problem details: the compatibility the old tests still check."""

from __future__ import annotations

from typing import Any

# The RFC 9457 members added next to the old ones; everything else must be exactly what it always was.
PROBLEM_MEMBERS = frozenset({"type", "title", "status", "detail", "code", "errors"})


def legacy(body: Any) -> Any:
    """``body`` without the problem-details members, to compare with the pre-problem-details answer."""
    assert isinstance(body, dict), body
    assert {"type", "title", "status", "code"} <= body.keys(), body  # it is a problem document
    return {name: value for name, value in body.items() if name not in PROBLEM_MEMBERS}
