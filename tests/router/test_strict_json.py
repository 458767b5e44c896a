"""``router.strict_json``: RFC 8259 JSON, whatever Python's parser would also take."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from router import strict_json

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


# st.text() leaves surrogates out, whatever the alphabet: these strings hold them, lone or paired by chance.
_SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
TEXT = st.lists(st.one_of(_SURROGATES, st.characters(categories=["L", "Nd"]), st.sampled_from('\\"\x00')), max_size=6)
WITH_SURROGATES = st.recursive(
    st.none() | st.integers() | TEXT.map("".join),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT.map("".join), inner, max_size=3),
    max_leaves=10,
)


def holds_lone_surrogate(doc: object) -> bool:
    """Whether json.loads gave a str no UTF-8 encoder takes (an adjacent high-low pair became one character)."""
    try:
        json.dumps(doc, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return True
    return False


@given(WITH_SURROGATES)
def test_a_lone_surrogate_anywhere_is_refused_and_every_other_document_reads_as_before(doc: object) -> None:
    text = json.dumps(doc)  # ensure_ascii: every surrogate travels as a \u escape, as in a caller's body
    parsed = json.loads(text)
    if holds_lone_surrogate(parsed):
        with pytest.raises(strict_json.NotStrictJson, match=r"lone UTF-16 surrogate \(\\ud[89a-f][0-9a-f]{2}\)"):
            strict_json.loads(text.encode())
    else:
        assert strict_json.loads(text.encode()) == parsed


@pytest.mark.parametrize(
    "body",
    [
        b'"\\ud800"',
        b'"a\\udfff"',
        b'["\\udc00\\ud800"]',
        b'{"\\ud83d": 1}',
        b'{"a": {"b": ["x", "\\uDBFF"]}}',
        b'"\\\\ud83d\\ude00"',  # a backslash, the text "ud83d", then a lone low surrogate
    ],
)
def test_lone_surrogate_escapes_are_refused(body: bytes) -> None:
    assert json.loads(body)  # Python takes them
    with pytest.raises(strict_json.NotStrictJson, match="lone UTF-16 surrogate"):
        strict_json.loads(body)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'"\\ud83d\\ude00"', "\U0001f600"),  # a pair is one character
        (b'"\\\\ud800"', "\\ud800"),  # an escaped backslash, then text
        (b'"\\\\\\ud83d\\ude00"', "\\\U0001f600"),  # a backslash, then a pair
        ('"é"'.encode(), "é"),
        (b'\xef\xbb\xbf{"a": 1}', {"a": 1}),  # a UTF-8 byte order mark, skipped as json.loads does
    ],
)
def test_what_rfc_8259_allows_still_reads(body: bytes, expected: object) -> None:
    assert strict_json.loads(body) == expected


@pytest.mark.parametrize(
    "body",
    [b'"\xed\xa0\x80"', b'"\xff"', '{"a": "\u00e9"}'.encode("utf-16")],
)
def test_text_that_is_not_utf_8_is_refused(body: bytes) -> None:
    with pytest.raises(strict_json.NotStrictJson, match="not UTF-8"):
        strict_json.loads(body)


_ESCAPE_PARTS = ["\\\\", "\\ud83d", "\\ude00", "\\uDBFF", "\\udc00", "ud83d", "\\n", "a"]
ESCAPES = st.lists(st.sampled_from(_ESCAPE_PARTS), max_size=8)


@given(ESCAPES)
def test_escapes_next_to_escaped_backslashes_are_told_apart(parts: list[str]) -> None:
    body = f'["{"".join(parts)}"]'.encode()
    if holds_lone_surrogate(json.loads(body)):
        with pytest.raises(strict_json.NotStrictJson):
            strict_json.loads(body)
    else:
        assert strict_json.loads(body) == json.loads(body)


LIMIT = strict_json.MAX_DEPTH


@pytest.mark.parametrize(("depth", "ok"), [(1, True), (LIMIT, True), (LIMIT + 1, False)])
@pytest.mark.parametrize("bracket", ["[]", "{}"])
def test_nesting_is_read_to_max_depth_and_refused_past_it(depth: int, ok: bool, bracket: str) -> None:
    opening, closing = ('{"a":', "}") if bracket == "{}" else ("[", "]")
    body = opening * depth + "1" + closing * depth
    if ok:
        assert strict_json.loads(body) == json.loads(body)
    else:
        with pytest.raises(strict_json.NotStrictJson, match=f"nested deeper than {strict_json.MAX_DEPTH} levels"):
            strict_json.loads(body)


@pytest.mark.parametrize("depth", [300, 900, 100_000])
def test_deep_nesting_hidden_among_shallow_siblings_is_refused(depth: int) -> None:
    # Brackets in strings and shallow siblings do not hide a deep branch.
    body = '{"s": "]]]]", "wide": [' + ",".join(["{}"] * 500) + '], "deep": ' + "[" * depth + "]" * depth + "}"
    with pytest.raises(strict_json.NotStrictJson, match="nested deeper than"):
        strict_json.loads(body)
