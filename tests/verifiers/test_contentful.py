"""Contentful's canonical request, as contentful/node-apps-toolkit's ``verifyRequest`` builds it.

Contentful publishes no signed example; these strings are written out by hand from the toolkit's
``sign-request.ts`` and ``utils.ts`` (commit 015bc183), so a change in our canonicalisation shows as a diff
against them rather than passing silently through a round trip.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

import verifiers
from verifiers import SignatureMismatch, TimestampOutOfRange
from verifiers.contentful import canonical, canonical_path

SECRET = "a" * 64  # the toolkit's VALID_SECRET: Contentful secrets are exactly 64 characters
TS = "1603379941037"  # the toolkit's VALID_TIMESTAMP (ms)
NOW = 1603379941.037
BODY = b'{"sys":{"id":"entry1","version":3,"space":{"sys":{"id":"space1"}}}}'
URL = "https://hooks.example.com/contentful"


def signature(message: bytes) -> str:
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


def test_the_two_contentful_headers_are_signed_sorted_even_when_not_listed() -> None:
    assert canonical("POST", URL, {}, [], TS, BODY) == (
        b"POST\n/contentful\n"
        b"x-contentful-signed-headers:x-contentful-signed-headers,x-contentful-timestamp;"
        b"x-contentful-timestamp:1603379941037\n" + BODY
    )


def test_listed_headers_are_sorted_trimmed_and_skipped_when_absent() -> None:
    headers = {"x-contentful-topic": "  ContentManagement.Entry.publish ", "authorization": "Bearer T"}
    listed = ["x-contentful-topic", "authorization", "x-missing"]
    assert canonical("POST", URL, headers, listed, TS, b"") == (
        b"POST\n/contentful\n"
        b"authorization:Bearer T;"
        b"x-contentful-signed-headers:authorization,x-contentful-signed-headers,x-contentful-timestamp,"
        b"x-contentful-topic;"
        b"x-contentful-timestamp:1603379941037;"
        b"x-contentful-topic:ContentManagement.Entry.publish\n"
    )


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("https://h/api/resources/1", "/api/resources/1"),
        # querystring.escape, then encodeURI escapes the escapes: the toolkit's canonical query
        ("https://h/api/resources?q=1&w=2", "/api/resources?q%253D1%2526w%253D2"),
        ("https://h/a%20b/c d", "/a%2520b/c%20d"),
        ("https://h/p?x=1?y=2", "/p?x%253D1"),  # only the text up to a second "?" is signed
        ("https://h/p?", "/p"),
        ("/relative?k=v", "/relative?k%253Dv"),
    ],
)
def test_canonical_path_follows_the_toolkit(url: str, path: str) -> None:
    assert canonical_path(url) == path


def test_a_request_signed_like_the_toolkit_verifies_and_a_changed_signed_header_fails() -> None:
    listed = "x-contentful-signed-headers,x-contentful-timestamp,x-contentful-topic"
    headers = {"x-contentful-topic": "ContentManagement.Entry.publish", "x-contentful-timestamp": TS}
    message = (
        b"POST\n/contentful?space%253Ds1\n"
        b"x-contentful-signed-headers:" + listed.encode() + b";"
        b"x-contentful-timestamp:1603379941037;x-contentful-topic:ContentManagement.Entry.publish\n" + BODY
    )
    headers |= {"x-contentful-signed-headers": listed, "x-contentful-signature": signature(message)}
    url = "https://hooks.example.com/contentful?space=s1"
    verifiers.verify("contentful", secrets=[SECRET], headers=headers, body=BODY, url=url, now=NOW)
    with pytest.raises(SignatureMismatch):
        changed = {**headers, "x-contentful-topic": "ContentManagement.Entry.delete"}
        verifiers.verify("contentful", secrets=[SECRET], headers=changed, body=BODY, url=url, now=NOW)
    with pytest.raises(SignatureMismatch):
        verifiers.verify("contentful", secrets=[SECRET], headers=headers, body=BODY, url=url + "2", now=NOW)


def test_signer_output_is_what_the_toolkit_signs_and_the_window_is_60_s() -> None:
    signed = verifiers.sign("contentful", secrets=[SECRET], body=BODY, url=URL, now=NOW)
    assert signed["x-contentful-signed-headers"] == "x-contentful-signed-headers,x-contentful-timestamp"
    assert signed["x-contentful-signature"] == signature(canonical("POST", URL, {}, [], TS, BODY))
    verifiers.verify("contentful", secrets=[SECRET], headers=signed, body=BODY, url=URL, now=NOW + 60)
    for late in (NOW + 61, NOW - 61):
        with pytest.raises(TimestampOutOfRange):
            verifiers.verify("contentful", secrets=[SECRET], headers=signed, body=BODY, url=URL, now=late)
