"""An App Events user token is decoded once per request, however many keys of a rotation are tried, and still
checked as strictly: counted at PyJWT's seam ``PyJWS._load``, which every PyJWT decoding call goes through."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jwt.api_jws import PyJWS

from router.ingress.sdk.usertoken import TokenRejected, subject
from subscriptions.models import Project
from tests.router.sdk_support import keypair, token
from verifiers._jwt import parse_jwt


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    calls: list[object] = []
    load = PyJWS._load

    def counted(self: PyJWS, raw: str | bytes) -> Any:
        calls.append(raw)
        return load(self, raw)

    parse_jwt.cache_clear()
    monkeypatch.setattr(PyJWS, "_load", counted)
    yield calls
    parse_jwt.cache_clear()


def project(*keys: int) -> Project:
    return Project(id="p1", user_token_public_keys=[keypair(k)[1] for k in keys])


@pytest.mark.parametrize("keys", [(0,), (1, 0), (1, 2, 0)], ids=["one-key", "second-of-two", "third-of-three"])
def test_a_user_token_is_decoded_once_whichever_key_verifies_it(keys: tuple[int, ...], decodes: list[object]) -> None:
    assert subject(token("u1"), project(*keys), leeway_s=30, max_lifetime_s=86_400) == "u1"
    assert len(decodes) == 1


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (lambda: token("u1", key=1), "invalid_signature"),  # no configured key signed it
        (lambda: token("u1", age_s=7200), "token_expired"),
        (lambda: token("u1", age_s=-600), "token_not_yet_valid"),
        (lambda: token("u1", omit=("exp",)), "token_missing_exp"),
        (lambda: token("u1", ttl_s=10 * 86_400), "token_lifetime_too_long"),
        (lambda: "not.a.jwt", "token_malformed"),
    ],
)
def test_a_refused_token_is_decoded_once_too(raw: Any, reason: str, decodes: list[object]) -> None:
    with pytest.raises(TokenRejected) as info:
        subject(raw(), project(2, 0), leeway_s=30, max_lifetime_s=86_400)
    assert info.value.reason == reason and len(decodes) == 1
