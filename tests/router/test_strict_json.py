"""``router.ingress.sdk.strict_json``: RFC 8259 JSON, whatever Python's parser would also take."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.ingress.sdk import strict_json

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_every_finite_document_reads_as_the_standard_parser_reads_it(doc: object) -> None:
    text = json.dumps(doc)
    assert strict_json.loads(text) == json.loads(text)


@given(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400", "1E+309"]))
def test_non_finite_numbers_are_refused(number: str) -> None:
    assert not math.isfinite(json.loads(number)) or json.loads(number) != json.loads(number)  # Python takes them
    with pytest.raises(ValueError, match="not a JSON number|does not fit"):
        strict_json.loads(f'{{"a": [1, {number}]}}')
