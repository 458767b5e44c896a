from __future__ import annotations

import contextlib
import hashlib
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import verifiers
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingPublicUrl,
    MissingSecret,
    SignatureMismatch,
    UnsupportedVersion,
    VerificationError,
)

# twilio/twilio-python tests/unit/test_request_validator.py: token, URL, parameters and signatures.
TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}
FORM_BODY = urlencode(PARAMS).encode()
FORM_SIG = "RSOYDt4T1cUTdK1PDd93/VVr8B8="
DUPLICATE_BODY = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
DUPLICATE_SIG = "IK+Dwps556ElfBT0I3Rgjkr1wJU="
JSON_BODY = b'{"property": "value", "boolean": true}'
JSON_BODY_SHA256 = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
JSON_URL = URL + "&bodySHA256=" + JSON_BODY_SHA256
JSON_SIG = "a9nBmqA0ju/hNViExpshrM61xv4="


def sign(
    body: bytes, *, secret: str = TOKEN, url: str = URL, json_body: bool = False, digest: str = "sha1"
) -> dict[str, str]:
    """X-Twilio-Signature for a form ``body`` posted to ``url`` (or, with ``json_body``, for the URL alone).

    For a JSON body pass a ``url`` that already carries ``bodySHA256`` (see ``json_url``). ``digest="sha256"``
    signs as a SharedKey Webhook Setting with ``algorithm=HMAC_SHA256`` does (the caller adds its header).
    """
    signed = verifiers.sign("twilio", secrets=[secret], body=b"" if json_body else body, url=url, scheme=digest)
    return {"x-twilio-signature": signed["x-twilio-signature"]}


def json_url(body: bytes, url: str = URL) -> str:
    return url + ("&" if "?" in url else "?") + "bodySHA256=" + hashlib.sha256(body).hexdigest()


def _verify(sig: str, body: bytes, url: str, *, secrets: list[str] | None = None) -> None:
    verifiers.verify(
        "twilio",
        secrets=[TOKEN] if secrets is None else secrets,
        headers={"X-Twilio-Signature": sig},
        body=body,
        url=url,
    )


@pytest.mark.parametrize(
    ("url", "body", "signature"),
    [
        pytest.param(URL, FORM_BODY, FORM_SIG, id="form"),
        pytest.param(URL, DUPLICATE_BODY, DUPLICATE_SIG, id="duplicate-params"),
        pytest.param(JSON_URL, JSON_BODY, JSON_SIG, id="json-body-sha256"),
        pytest.param(URL.replace(".com", ".com:1234"), FORM_BODY, FORM_SIG, id="removes-port-https"),
        pytest.param(
            URL.replace(".com", ".com:1234").replace("https", "http"),
            FORM_BODY,
            "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=",
            id="keeps-port-http",
        ),
        pytest.param(URL, FORM_BODY, "kvajT1Ptam85bY51eRf/AJRuM3w=", id="adds-port-443"),
        pytest.param(URL.replace("https", "http"), FORM_BODY, "0ZXoZLH/DfblKGATFgpif+LLRf4=", id="adds-port-80"),
    ],
)
def test_sdk_vectors(url: str, body: bytes, signature: str) -> None:
    _verify(signature, body, url)


def test_json_body_hash_vector() -> None:
    assert hashlib.sha256(JSON_BODY).hexdigest() == JSON_BODY_SHA256


def test_sign_reproduces_sdk_vectors() -> None:
    assert sign(FORM_BODY)["x-twilio-signature"] == FORM_SIG
    assert sign(DUPLICATE_BODY)["x-twilio-signature"] == DUPLICATE_SIG
    assert sign(JSON_BODY, url=JSON_URL, json_body=True)["x-twilio-signature"] == JSON_SIG


def test_get_request_signs_url_only() -> None:
    url = "https://example.com/voice?CallSid=CA1&AccountSid=AC1"
    verifiers.verify("twilio", secrets=[TOKEN], headers=sign(b"", url=url), body=b"", method="GET", url=url)


def test_blank_form_values_are_signed() -> None:
    body = b"AccountSid=AC1&Body=&FromCity="
    _verify(sign(body)["x-twilio-signature"], body, URL)


# A raw path with a percent-escape: Twilio signs it exactly as configured, escape included.
ESCAPED_URL = "https://hooks.example.com/webhook/triggers/connect/twilio/tw%40e2e?id=cred%2B1"
SHARED_KEY = "sk-secret-of-the-shared-key"


def shared_key_headers(body: bytes, algorithm: str, *, digest: str, url: str = ESCAPED_URL) -> dict[str, str]:
    settings = f"key=KS0123456789abcdef0123456789abcdef,algorithm={algorithm}"
    return {**sign(body, secret=SHARED_KEY, url=url, digest=digest), "X-Twilio-Webhooks-Signature-Settings": settings}


@pytest.mark.parametrize(
    ("headers", "digest"),
    [
        pytest.param({}, "sha1", id="no-settings-header-is-sha1"),
        pytest.param({"X-Twilio-Webhooks-Signature-Settings": "key=KS1,algorithm=HMAC_SHA1"}, "sha1", id="sha1"),
        pytest.param({"X-Twilio-Webhooks-Signature-Settings": "key=KS1, algorithm=HMAC_SHA256"}, "sha256", id="sha256"),
        pytest.param(
            {"X-Twilio-Webhooks-Signature-Settings": "algorithm=hmac_sha256,key=KS1"}, "sha256", id="any-order"
        ),
        pytest.param({"X-Twilio-Webhooks-Signature-Settings": "key=KS1"}, "sha1", id="no-algorithm-is-sha1"),
    ],
)
def test_signature_settings_choose_the_hash(headers: dict[str, str], digest: str) -> None:
    body = FORM_BODY
    for url in (ESCAPED_URL, ESCAPED_URL.replace("?", "/x?")):
        signed = {**sign(body, secret=SHARED_KEY, url=url, digest=digest), **headers}
        verifiers.verify("twilio", secrets=[SHARED_KEY], headers=signed, body=body, url=url)


def test_sha256_shared_key_form_and_json() -> None:
    """Both algorithms, form and JSON bodies, over a raw path holding %40 (tw@e2e as Twilio was given it)."""
    _verify_headers(shared_key_headers(FORM_BODY, "HMAC_SHA256", digest="sha256"), FORM_BODY, ESCAPED_URL)
    _verify_headers(shared_key_headers(FORM_BODY, "HMAC_SHA1", digest="sha1"), FORM_BODY, ESCAPED_URL)
    url = json_url(JSON_BODY, ESCAPED_URL)
    headers = shared_key_headers(JSON_BODY, "HMAC_SHA256", digest="sha256", url=url)
    headers["x-twilio-signature"] = sign(JSON_BODY, secret=SHARED_KEY, url=url, json_body=True, digest="sha256")[
        "x-twilio-signature"
    ]
    _verify_headers(headers, JSON_BODY, url)


def test_sha256_signature_is_not_checked_as_sha1_nor_the_reverse() -> None:
    sha256_signed = shared_key_headers(FORM_BODY, "HMAC_SHA1", digest="sha256")
    sha1_signed = shared_key_headers(FORM_BODY, "HMAC_SHA256", digest="sha1")
    for headers in (sha256_signed, sha1_signed):
        with pytest.raises(SignatureMismatch):
            _verify_headers(headers, FORM_BODY, ESCAPED_URL)


def test_the_decoded_path_does_not_verify_a_signature_over_the_raw_one() -> None:
    headers = shared_key_headers(FORM_BODY, "HMAC_SHA256", digest="sha256")
    with pytest.raises(SignatureMismatch):
        _verify_headers(headers, FORM_BODY, ESCAPED_URL.replace("%40", "@"))


@pytest.mark.parametrize("algorithm", ["HMAC_SHA512", "RSA", "sha256"])
def test_unknown_algorithm_is_unsupported(algorithm: str) -> None:
    headers = shared_key_headers(FORM_BODY, algorithm, digest="sha256")
    with pytest.raises(UnsupportedVersion) as info:
        _verify_headers(headers, FORM_BODY, ESCAPED_URL)
    assert info.value.reason == "unsupported_version"


def _verify_headers(headers: dict[str, str], body: bytes, url: str) -> None:
    verifiers.verify("twilio", secrets=[TOKEN, SHARED_KEY], headers=headers, body=body, url=url)


@pytest.mark.parametrize(
    ("sig", "body", "url", "secrets", "error"),
    [
        pytest.param(FORM_SIG, FORM_BODY + b"&Extra=1", URL, [TOKEN], SignatureMismatch, id="tampered-body"),
        pytest.param(FORM_SIG, FORM_BODY, URL + "&baz=3", [TOKEN], SignatureMismatch, id="tampered-url"),
        pytest.param(FORM_SIG, FORM_BODY, URL, ["54321"], SignatureMismatch, id="wrong-secret"),
        pytest.param(JSON_SIG, JSON_BODY + b" ", JSON_URL, [TOKEN], SignatureMismatch, id="json-body-hash-mismatch"),
        pytest.param(FORM_SIG, FORM_BODY, "", [TOKEN], MissingPublicUrl, id="no-url"),
        pytest.param(FORM_SIG, FORM_BODY, "/myapp.php?foo=1&bar=2", [TOKEN], MissingPublicUrl, id="path-only"),
        pytest.param(FORM_SIG, FORM_BODY, "https://[::1/x", [TOKEN], MalformedHeader, id="garbled-url"),
        pytest.param(FORM_SIG, FORM_BODY, "https://h:99999/x", [TOKEN], MalformedHeader, id="bad-port"),
        pytest.param("!!!", FORM_BODY, URL, [TOKEN], SignatureMismatch, id="garbled-signature"),
        pytest.param("", FORM_BODY, URL, [TOKEN], MissingHeader, id="missing-header"),
        pytest.param(FORM_SIG, FORM_BODY, URL, [], MissingSecret, id="no-secret"),
    ],
)
def test_rejects(sig: str, body: bytes, url: str, secrets: list[str], error: type[VerificationError]) -> None:
    with pytest.raises(error) as info:
        _verify(sig, body, url, secrets=secrets)
    assert info.value.reason == error.reason


def test_non_utf8_form_body_is_malformed() -> None:
    with pytest.raises(verifiers.MalformedBody):
        _verify(FORM_SIG, b"From=\xff", URL)


def test_rotated_secret_accepted() -> None:
    _verify(sign(FORM_BODY, secret="old")["x-twilio-signature"], FORM_BODY, URL, secrets=["new", "old"])


def test_no_handshake() -> None:
    assert verifiers.handshake("twilio", secrets=[TOKEN], headers=sign(FORM_BODY), body=FORM_BODY, url=URL) is None


def test_extract_form() -> None:
    body = b"MessageSid=SM1&AccountSid=AC0123&MessageStatus=delivered&From=%2B1555"
    headers = {**sign(body), "I-Twilio-Idempotency-Token": "idem-1"}
    [info] = verifiers.extract("twilio", headers=headers, body=body, url=URL)
    assert info == verifiers.EventInfo("AC0123", "delivered", "idem-1")


def test_extract_json() -> None:
    body = b'{"AccountSid":"AC9","type":"com.twilio.messaging.message.delivered"}'
    [info] = verifiers.extract("twilio", headers={}, body=body, url=json_url(body))
    assert info == verifiers.EventInfo("AC9", "com.twilio.messaging.message.delivered", "")


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(max_size=256),
    sig=st.text(max_size=60),
    url=st.one_of(st.text(max_size=80), st.sampled_from([URL, JSON_URL, "http://h:80/x?bodySHA256=zz"])),
    settings_header=st.one_of(st.none(), st.text(max_size=60)),
)
def test_only_verification_errors_escape(body: bytes, sig: str, url: str, settings_header: str | None) -> None:
    headers = {"x-twilio-signature": sig}
    if settings_header is not None:
        headers["x-twilio-webhooks-signature-settings"] = settings_header
    with contextlib.suppress(VerificationError):
        verifiers.verify("twilio", secrets=[TOKEN], headers=headers, body=body, url=url)
    with contextlib.suppress(VerificationError):
        verifiers.handshake("twilio", secrets=[TOKEN], headers=headers, body=body, url=url)
    assert verifiers.extract("twilio", headers=headers, body=body, url=url)
