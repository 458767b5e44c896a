"""Workflow Permissions: each operator, the conditions' validation, and hostile metadata."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from subscriptions.models import ConnectedUser, Workflow
from subscriptions.permissions import Condition, holds, permits
from subscriptions.snapshot import Snapshot


def cond(field: str, operator: str, value: Any = None) -> Condition:
    return Condition.model_validate({"field": field, "operator": operator, "value": value})


META: dict[str, Any] = {
    "plan": "pro",
    "Email": "ada@example.com",
    "seats": 12,
    "ratio": 0.5,
    "beta": True,
    "legacy": False,
    "tags": ["eu", "sso", 3],
    "nothing": None,
}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        (cond("plan", "equals", "pro"), True),
        (cond("plan", "equals", "Pro"), False),  # case-sensitive, as the platform's metadata keys and values are
        (cond("seats", "equals", 12.0), True),
        (cond("seats", "equals", "12"), False),  # a string is not a number
        (cond("beta", "equals", 1), False),  # nor a boolean a number
        (cond("missing", "equals", "pro"), False),
        (cond("plan", "not_equals", "free"), True),
        (cond("plan", "not_equals", "pro"), False),
        (cond("missing", "not_equals", "pro"), True),
        (cond("Email", "contains", "@example."), True),
        (cond("tags", "contains", "sso"), True),
        (cond("tags", "contains", 3), True),
        (cond("tags", "contains", "us"), False),
        (cond("seats", "contains", "1"), False),
        (cond("tags", "not_contains", "us"), True),
        (cond("tags", "not_contains", "eu"), False),
        (cond("Email", "starts_with", "ada@"), True),
        (cond("Email", "ends_with", "@example.com"), True),
        (cond("Email", "ends_with", "@example.org"), False),
        (cond("seats", "greater_than", 10), True),
        (cond("seats", "greater_than", 12), False),
        (cond("seats", "greater_or_equal", 12), True),
        (cond("ratio", "less_than", 1), True),
        (cond("ratio", "less_or_equal", 0.4), False),
        (cond("plan", "greater_than", 1), False),  # text is not ordered against a number
        (cond("beta", "greater_than", 0), False),
        (cond("plan", "in", ["pro", "enterprise"]), True),
        (cond("plan", "in", ["free"]), False),
        (cond("missing", "in", ["pro"]), False),
        (cond("plan", "not_in", ["free", "starter"]), True),
        (cond("missing", "not_in", ["pro"]), True),
        (cond("plan", "exists"), True),
        (cond("nothing", "exists"), False),  # null is no value
        (cond("missing", "exists"), False),
        (cond("missing", "not_exists"), True),
        (cond("nothing", "not_exists"), True),
        (cond("plan", "not_exists"), False),
        (cond("beta", "is_true"), True),
        (cond("legacy", "is_true"), False),
        (cond("plan", "is_true"), False),  # only the boolean true, not a truthy string
        (cond("legacy", "is_false"), True),
        (cond("missing", "is_false"), False),
    ],
)
def test_each_operator(condition: Condition, expected: bool) -> None:
    assert holds(condition, META) is expected


def test_every_condition_must_hold() -> None:
    pro, big = cond("plan", "equals", "pro"), cond("seats", "greater_than", 100)
    assert permits([pro], META) and not permits([pro, big], META) and permits([], {})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"field": "plan", "operator": "exists", "value": "x"}, "takes no value"),
        ({"field": "plan", "operator": "in", "value": "pro"}, "list of values"),
        ({"field": "plan", "operator": "equals"}, "takes one value"),
        ({"field": "plan", "operator": "equals", "value": ["pro"]}, "takes one value"),
        ({"field": "seats", "operator": "greater_than", "value": "10"}, "compares numbers"),
        ({"field": "seats", "operator": "less_than", "value": True}, "compares numbers"),
        ({"field": "Email", "operator": "starts_with", "value": 1}, "compares text"),
        ({"field": "plan", "operator": "matches", "value": "p.*"}, "operator"),
        ({"field": "", "operator": "exists"}, "field"),
        ({"field": "plan", "operator": "exists", "negate": True}, "negate"),
    ],
)
def test_conditions_that_cannot_be_evaluated_are_refused(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Condition.model_validate(data)


def test_a_workflow_carries_its_permissions_and_default() -> None:
    wf = Workflow.model_validate(
        {
            "id": "wf",
            "project": "p1",
            "integration": "slack-app",
            "permissions": [{"field": "plan", "operator": "in", "value": ["pro", "enterprise"]}],
            "enabled_by_default": True,
        }
    )
    assert wf.permissions == [cond("plan", "in", ["pro", "enterprise"])] and wf.enabled_by_default
    plain = Workflow.model_validate({"id": "wf", "project": "p1", "integration": "slack-app"})
    assert plain.permissions == [] and not plain.enabled_by_default


def test_the_snapshot_gates_on_activation_default_and_permissions() -> None:
    def wf(**fields: Any) -> Workflow:
        return Workflow.model_validate({"project": "p1", "integration": "i", **fields})

    gated = wf(
        id="gated", enabled_by_default=True, permissions=[{"field": "plan", "operator": "equals", "value": "pro"}]
    )
    snapshot = Snapshot.build(
        1,
        {
            "user": [
                ConnectedUser(id="pro", project="p1", metadata={"plan": "pro"}),
                ConnectedUser(id="free", project="p1", metadata={"plan": "free"}),
            ],
            "workflow": [gated, wf(id="opt-in")],
        },
    )
    assert snapshot.workflow_gate(gated, "pro") == ""
    assert snapshot.workflow_gate(gated, "free") == "workflow_permission_denied"
    assert snapshot.workflow_gate(gated, "nobody") == "workflow_permission_denied"
    assert snapshot.workflow_gate(snapshot.workflows["opt-in"], "pro") == "workflow_not_activated"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)
SCALAR = st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=10)


def _safe_cond(field: str, operator: str, value: Any) -> Condition:
    unary = operator in ("exists", "not_exists")
    return cond(field, operator, None if unary else value)


CONDITIONS = st.lists(
    st.builds(
        _safe_cond,
        st.sampled_from(["plan", "seats", "tags", "x"]),
        st.sampled_from(["equals", "not_equals", "contains", "not_contains", "exists", "not_exists"]),
        SCALAR,
    )
    | st.builds(
        cond, st.sampled_from(["seats", "x"]), st.sampled_from(["greater_than", "less_or_equal"]), st.integers()
    )
    | st.builds(cond, st.sampled_from(["plan", "x"]), st.sampled_from(["in", "not_in"]), st.lists(SCALAR, max_size=3)),
    max_size=4,
)


@given(st.dictionaries(st.sampled_from(["plan", "seats", "tags", "x", ""]), JSON, max_size=5), CONDITIONS)
def test_hostile_metadata_never_raises_and_negations_are_complements(
    metadata: dict[str, Any], conditions: list[Condition]
) -> None:
    assert permits(conditions, metadata) in (True, False)
    for c in conditions:
        opposite = {"equals": "not_equals", "contains": "not_contains", "in": "not_in", "exists": "not_exists"}
        flipped = {**opposite, **{v: k for k, v in opposite.items()}}.get(c.operator)
        if flipped is not None:
            assert holds(c, metadata) is not holds(c.model_copy(update={"operator": flipped}), metadata)
