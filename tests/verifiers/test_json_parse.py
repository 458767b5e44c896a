"""Bodies are parsed by orjson where it reads JSON as the standard parser does, and by the standard parser
otherwise: whatever the bytes, ``parsed`` gives what ``json.loads`` gives, or raises where it raises."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifiers._core import Request
from verifiers._extract import loads, parsed
from verifiers.errors import MalformedBody

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63 - 2, max_value=2**65),  # past what orjson reads as an integer
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
)


def outcome(read: Any, body: bytes) -> tuple[str, Any]:
    try:
        return "ok", read(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return "error", type(exc).__name__


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@given(values, st.booleans(), st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_a_json_document_reads_as_the_standard_parser_reads_it(value: Any, ascii_only: bool, encoding: str) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    expected, got = outcome(json.loads, body), outcome(parsed, body)
    assert expected[0] == got[0] and same(expected[1], got[1]), (body, expected, got)


@given(st.binary(max_size=64) | st.text(max_size=64).map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_any_bytes_read_or_fail_as_the_standard_parser_has_them(body: bytes) -> None:
    expected, got = outcome(json.loads, body), outcome(parsed, body)
    assert expected[0] == got[0] and (got[0] == "error" or same(expected[1], got[1])), (body, expected, got)


@pytest.mark.parametrize(
    "body",
    [
        b'{"n": NaN, "i": Infinity}',
        b'{"big": 123456789012345678901234567890}',
        b'{"team_id": "\\ud800"}',
        b'\xef\xbb\xbf{"a": 1}',
        b'{"a": 1, "a": 2}',
        b"[" * 5000 + b"]" * 5000,
        b'{"a": 1} x',
        b"",
    ],
)
def test_what_orjson_refuses_is_the_standard_parsers_to_judge(body: bytes) -> None:
    expected, got = outcome(json.loads, body), outcome(parsed, body)
    assert expected[0] == got[0] and (got[0] == "error" or same(expected[1], got[1]))
    assert loads(body) is None if got[0] == "error" else same(loads(body), got[1])
    request = Request(headers={}, body=body, method="POST", url="/", now=0.0, secrets=())
    if got[0] == "error":
        with pytest.raises(MalformedBody):
            request.json()
    else:
        assert same(request.json(), got[1])
