from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from subscriptions.paths import Path, evaluate, evaluate_text, parse, text_of

CONTEXT: dict[str, Any] = {
    "body": {
        "team": {"id": "T42"},
        "items": [{"id": 7}, {"id": "second"}],
        "order.created": {"id": "o-1"},
        "flag": True,
        "it's": "quoted",
        "nested": {"list": [[1, 2], [3]]},
    },
    "headers": {"X-Shop": "shop.example", "content-type": "application/json"},
    "query": {"id": "cred-1"},
}


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("$.body.team.id", "T42"),
        ("$.body.items[0].id", 7),
        ("$.body.items[1].id", "second"),
        ("$.body['order.created'].id", "o-1"),
        ('$.body["order.created"]["id"]', "o-1"),
        ("$.body['it\\'s']", "quoted"),
        ("$.body.nested.list[0][1]", 2),
        ("$.headers['x-shop']", "shop.example"),
        ("$.headers['X-SHOP']", "shop.example"),
        ("$.headers.x-shop", "shop.example"),
        ("$.query.id", "cred-1"),
        ("$.body.team", {"id": "T42"}),
    ],
)
def test_evaluates_the_documented_forms(expression: str, value: object) -> None:
    assert evaluate(parse(expression), CONTEXT) == value


@pytest.mark.parametrize(
    "expression",
    [
        "$.body.missing",
        "$.body.items[5].id",
        "$.body.team.id.deeper",
        "$.body.items.id",
        "$.body.team[0]",
        "$.headers['x-missing']",
        "$.query.other",
    ],
)
def test_absent_values_are_none(expression: str) -> None:
    assert evaluate(parse(expression), CONTEXT) is None


@pytest.mark.parametrize(
    ("expression", "position", "fragment"),
    [
        ("body.team", 0, "starts with '$'"),
        ("$", 1, "expected a root"),
        ("$.bodyx.a", 1, "unknown root"),
        ("$.body.", 7, "expected a name"),
        ("$.body..a", 7, "expected a name"),
        ("$.body[", 7, "list index or a quoted key"),
        ("$.body[-1]", 7, "list index or a quoted key"),
        ("$.body['a'", 10, "expected ']'"),
        ("$.body['a", 7, "unterminated"),
        ("$.body a", 6, "unexpected ' '"),
        ("$.headers", 1, "exactly one header"),
        ("$.headers.a.b", 1, "exactly one header"),
        ("$.query[0]", 1, "exactly one parameter"),
        ("$.body[99999999]", 7, "list index over"),
        ("$.body.__import__('os')", 17, "unexpected '('"),
    ],
)
def test_bad_syntax_names_the_position(expression: str, position: int, fragment: str) -> None:
    with pytest.raises(ValueError, match="at position") as info:
        parse(expression)
    assert f"at position {position}:" in str(info.value) and fragment in str(info.value)


def test_overlong_and_deep_expressions_are_rejected() -> None:
    with pytest.raises(ValueError, match="longer than"):
        parse("$.body" + ".a" * 300)
    with pytest.raises(ValueError, match="more than 32 steps"):
        parse("$.body" + ".a" * 40)


@pytest.mark.parametrize(
    ("value", "text"),
    [("x", "x"), (12, "12"), (1.5, "1.5"), (True, "true"), (None, None), ({}, None), ([1], None)],
)
def test_text_of_scalars(value: object, text: str | None) -> None:
    assert text_of(value) == text


def test_text_of_makes_lone_surrogates_encodable() -> None:
    assert text_of("a\ud800") == "a?" and text_of("é") == "é"


def test_text_of_refuses_unprintable_numbers() -> None:
    assert text_of(float("nan")) is None and text_of(float("inf")) is None
    assert text_of(10**5000) is None  # over Python's int-to-str digit limit


def test_parse_keeps_the_text_and_steps() -> None:
    path = parse("$.body.items[0]['a.b']")
    assert path == Path("$.body.items[0]['a.b']", "body", ("items", 0, "a.b")) and str(path) == path.text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
PATHISH = st.text(alphabet="$.[]'\"\\abody0123headersquery-_ x", max_size=40)


@given(text=st.one_of(PATHISH, st.text(max_size=60)))
def test_parse_raises_only_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse(text)


@given(text=PATHISH, body=JSON, headers=st.dictionaries(st.text(max_size=5), st.text(max_size=5)), query=JSON)
def test_evaluate_never_raises(text: str, body: Any, headers: dict[str, str], query: Any) -> None:
    try:
        path = parse(text)
    except ValueError:
        return
    evaluate_text(path, {"body": body, "headers": headers, "query": query})
    evaluate(path, {"body": body, "headers": body, "query": query})
    evaluate(path, {})
