from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import MalformedHeader, MissingHeader, MissingSecret, SignatureMismatch, VerificationError

# Pipedrive does not sign webhooks; HTTP Basic is deterministic, so there is no vector to publish. The
# known-answer test uses RFC 7617's example credentials ("Aladdin" / "open sesame").
SECRET = "hookrouter:s3cret-pass"
BODY_V2 = json.dumps(
    {
        "meta": {
            "action": "change",
            "entity": "deal",
            "company_id": "12882925",
            "user_id": "18487521",
            "entity_id": "1",
            "version": "2.0",
            "correlation_id": "3b7e1b2c-0000-4000-8000-000000000000",
        },
        "data": {"id": 1, "title": "test deal"},
        "previous": None,
    },
    separators=(",", ":"),
).encode()
BODY_V1 = b'{"v":1,"event":"updated.deal","meta":{"v":1,"action":"updated","object":"deal","id":7,"company_id":4242,"user_id":1},"current":{},"previous":{}}'  # noqa: E501


def sign(body: bytes = b"", *, secret: str = SECRET) -> dict[str, str]:
    """The Authorization header Pipedrive sends for a webhook created with ``user:password`` = ``secret``."""
    return verifiers.sign("pipedrive", secrets=[secret], body=body)


def _verify(headers: dict[str, str], body: bytes = BODY_V2, *, secrets: list[str] | None = None) -> None:
    verifiers.verify("pipedrive", secrets=[SECRET] if secrets is None else secrets, headers=headers, body=body)


def test_rfc7617_example() -> None:
    _verify({"Authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}, secrets=["Aladdin:open sesame"])
    assert sign(secret="Aladdin:open sesame") == {"authorization": "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="}


def test_scheme_name_is_case_insensitive() -> None:
    _verify({"authorization": sign()["authorization"].replace("Basic", "basic")})


@pytest.mark.parametrize(
    ("headers", "secrets", "error"),
    [
        pytest.param(sign(secret="hookrouter:wrong"), [SECRET], SignatureMismatch, id="wrong-password"),
        pytest.param(sign(secret="other:s3cret-pass"), [SECRET], SignatureMismatch, id="wrong-user"),
        pytest.param({}, [SECRET], MissingHeader, id="missing-header"),
        pytest.param({"authorization": "Bearer abc"}, [SECRET], MalformedHeader, id="not-basic"),
        pytest.param({"authorization": "Basic"}, [SECRET], MalformedHeader, id="no-credentials"),
        pytest.param({"authorization": "Basic ***"}, [SECRET], MalformedHeader, id="garbled-base64"),
        pytest.param(sign(), [], MissingSecret, id="no-secret"),
        pytest.param(sign(), ["no-colon"], MissingSecret, id="secret-not-a-pair"),
    ],
)
def test_rejects(headers: dict[str, str], secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(headers, secrets=secrets)
    assert info.value.reason == error.reason


def test_body_is_not_authenticated() -> None:
    # Basic auth covers who sent the request, not what it says: any body passes with the right credentials.
    _verify(sign(), b"anything")


def test_rotated_secret_accepted() -> None:
    _verify(sign(secret="hookrouter:old"), secrets=["hookrouter:new", "hookrouter:old"])


def test_no_handshake() -> None:
    assert verifiers.handshake("pipedrive", secrets=[SECRET], headers=sign(), body=BODY_V2) is None


def test_extract_v2() -> None:
    [info] = verifiers.extract("pipedrive", headers=sign(), body=BODY_V2)
    assert info == verifiers.EventInfo("12882925", "change.deal", "")


def test_extract_v1() -> None:
    [info] = verifiers.extract("pipedrive", headers=sign(), body=BODY_V1)
    assert info == verifiers.EventInfo("4242", "updated.deal", "")


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=256), auth=st.text(max_size=80))
def test_only_verification_errors_escape(body: bytes, auth: str) -> None:
    headers = {"authorization": auth}
    with contextlib.suppress(VerificationError):
        _verify(headers, body)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("pipedrive", secrets=[SECRET], headers=headers, body=body)
    assert verifiers.extract("pipedrive", headers=headers, body=body)
