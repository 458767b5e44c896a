"""Workflow Permissions: conditions on a connected user's metadata that a workflow's users must meet.

A workflow's ``permissions`` are a set of conditions, all of which the user's metadata must match; a user who
fails them cannot be triggered for the workflow. Evaluation is pure and total: whatever the metadata holds
(any JSON, set by the project's app or at authentication), it answers True or False and never raises.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Operator = Literal[
    "equals",
    "not_equals",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "greater_than",
    "greater_or_equal",
    "less_than",
    "less_or_equal",
    "in",
    "not_in",
    "exists",
    "not_exists",
    "is_true",
    "is_false",
]

Scalar = str | int | float | bool

# Operators that take no value, and those that compare numbers.
_UNARY = frozenset({"exists", "not_exists", "is_true", "is_false"})
_ORDERED = frozenset({"greater_than", "greater_or_equal", "less_than", "less_or_equal"})
_TEXT = frozenset({"starts_with", "ends_with"})


class Condition(BaseModel):
    """``field`` names a key of the user's metadata (case-sensitive, as the platform's ``Name`` and ``Email``);
    ``value`` is what ``operator`` compares it with: a list for ``in``/``not_in``, a number for the ordered
    comparisons, nothing for ``exists``/``not_exists``/``is_true``/``is_false``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str = Field(min_length=1, max_length=256)
    operator: Operator
    value: Scalar | list[Scalar] | None = None

    @model_validator(mode="after")
    def _value_fits(self) -> Condition:
        op, value = self.operator, self.value
        if op in _UNARY:
            if value is not None:
                raise ValueError(f"operator {op!r} takes no value")
        elif op in ("in", "not_in"):
            if not isinstance(value, list):
                raise ValueError(f"operator {op!r} takes a list of values")
        elif value is None or isinstance(value, list):
            raise ValueError(f"operator {op!r} takes one value")
        elif op in _ORDERED and not _is_number(value):
            raise ValueError(f"operator {op!r} compares numbers")
        elif op in _TEXT and not isinstance(value, str):
            raise ValueError(f"operator {op!r} compares text")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return self


def _is_number(value: object) -> bool:
    # bool is an int to Python, not a number to a user writing conditions.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(a: object, b: object) -> bool:
    """Equality as JSON sees it: 1 == 1.0, but True is not 1 and "1" is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and isinstance(a, str) and a == b


def _compare(op: str, actual: Any, wanted: Any) -> bool:
    if not (_is_number(actual) and _is_number(wanted)):
        return False
    try:
        if op == "greater_than":
            return bool(actual > wanted)
        if op == "greater_or_equal":
            return bool(actual >= wanted)
        if op == "less_than":
            return bool(actual < wanted)
        return bool(actual <= wanted)
    except (OverflowError, TypeError):  # an int too large to compare with a float
        return False


def _contains(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(wanted, str) and wanted in actual
    if isinstance(actual, list):
        return any(_same(item, wanted) for item in actual)
    return False


def _is_in(actual: Any, wanted: Any) -> bool:
    return isinstance(wanted, list) and any(_same(actual, w) for w in wanted)


def _text(op: str, actual: Any, wanted: Any) -> bool:
    if not (isinstance(actual, str) and isinstance(wanted, str)):
        return False
    return actual.startswith(wanted) if op == "starts_with" else actual.endswith(wanted)


# The operators that need the field present, and the negative ones that hold for a missing field.
_POSITIVE: dict[str, Callable[[Any, Any], bool]] = {"equals": _same, "contains": _contains, "in": _is_in}
_NEGATIVE = {"not_equals": "equals", "not_contains": "contains", "not_in": "in"}


def holds(condition: Condition, metadata: Mapping[str, Any]) -> bool:
    """Whether one condition holds for ``metadata``. A missing field fails every operator but ``not_exists``
    and the negative ones (``not_equals``, ``not_contains``, ``not_in``): a user without a plan is not on
    the "pro" plan."""
    op, wanted = condition.operator, condition.value
    present = condition.field in metadata
    actual = metadata.get(condition.field)
    if op in ("exists", "not_exists"):
        return (actual is not None) is (op == "exists")
    if op in ("is_true", "is_false"):
        return actual is (op == "is_true")
    if op in _POSITIVE:
        return present and _POSITIVE[op](actual, wanted)
    if op in _NEGATIVE:
        return not (present and _POSITIVE[_NEGATIVE[op]](actual, wanted))
    if op in _TEXT:
        return _text(op, actual, wanted)
    return _compare(op, actual, wanted)


def permits(conditions: list[Condition], metadata: Mapping[str, Any]) -> bool:
    """Whether a user with ``metadata`` meets every condition (no conditions: everyone does)."""
    return all(holds(c, metadata) for c in conditions)
