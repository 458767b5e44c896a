from __future__ import annotations

import base64
import contextlib
import dataclasses
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verifiers.test_slack import DOCS_BODY, DOCS_SECRET, DOCS_SIGNATURE, DOCS_TS
from verifiers import (
    MalformedHeader,
    MissingHeader,
    MissingSecret,
    SignatureMismatch,
    TimestampOutOfRange,
    VerificationError,
)
from verifiers.custom_spec import HmacSpec, load_entry_point, verify_spec

NOW = 1_700_000_000
SECRET = "custom-secret"
BODY = b'{"id":"evt_1","type":"thing.created"}'

# GitHub's documented example (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries).
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_BODY = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
GITHUB_SPEC = {"algorithm": "sha256", "encoding": "hex", "signature_header": "X-Hub-Signature-256", "prefix": "sha256="}
SLACK_SPEC = {
    "algorithm": "sha256",
    "encoding": "hex",
    "signature_header": "X-Slack-Signature",
    "prefix": "v0=",
    "signed_content": "v0:{timestamp}:{body}",
    "timestamp_header": "X-Slack-Request-Timestamp",
}
STRIPE_LIKE = HmacSpec.parse(
    {
        "algorithm": "sha256",
        "encoding": "hex",
        "signature_header": "X-Sig",
        "prefix": "v1=",
        "separator": ",",
        "signed_content": "{timestamp}.{body}",
        "timestamp_header": "X-Ts",
    }
)


def sign(
    body: bytes,
    spec: HmacSpec = STRIPE_LIKE,
    *,
    secret: str = SECRET,
    now: float = NOW,
    headers: Mapping[str, str] | None = None,
    url: str = "",
    method: str = "POST",
) -> dict[str, str]:
    """Headers that satisfy ``spec`` for ``body`` (``headers`` supplies any {header:NAME} values)."""
    out = dict(headers or {})
    ts = ""
    if spec.timestamp_header is not None:
        ts = str(int(now * 1000) if spec.timestamp_unit == "ms" else int(now))
        out[spec.timestamp_header] = ts
    lowered = {k.lower(): v for k, v in out.items()}
    message = b""
    for kind, value in spec.parts:
        message += {
            "body": body,
            "literal": value.encode(),
            "timestamp": ts.encode(),
            "url": url.encode(),
            "method": method.encode(),
        }.get(kind, lowered.get(value, "").encode())
    digest = hmac.new(secret.encode(), message, spec.algorithm).digest()
    encoded = digest.hex() if spec.encoding == "hex" else base64.b64encode(digest).decode()
    out[spec.signature_header] = spec.prefix + encoded
    return out


def _verify(
    spec: HmacSpec,
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[str] = (SECRET,),
    now: float = NOW,
    url: str = "",
    method: str = "POST",
) -> None:
    verify_spec(spec, secrets=secrets, headers=headers, body=body, method=method, url=url, now=now)


# --- reproducing built-in schemes on their published vectors -------------------------------------


def test_spec_reproduces_github_docs_vector() -> None:
    spec = HmacSpec.parse(GITHUB_SPEC)
    _verify(spec, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY, secrets=[GITHUB_SECRET])
    assert sign(GITHUB_BODY, spec, secret=GITHUB_SECRET) == {"X-Hub-Signature-256": GITHUB_SIGNATURE}
    with pytest.raises(SignatureMismatch):
        _verify(spec, {"X-Hub-Signature-256": GITHUB_SIGNATURE}, GITHUB_BODY + b"!", secrets=[GITHUB_SECRET])


def test_spec_reproduces_slack_docs_vector() -> None:
    spec = HmacSpec.parse(SLACK_SPEC)
    headers = {"X-Slack-Request-Timestamp": str(DOCS_TS), "X-Slack-Signature": DOCS_SIGNATURE}
    _verify(spec, headers, DOCS_BODY, secrets=[DOCS_SECRET], now=DOCS_TS)
    assert sign(DOCS_BODY, spec, secret=DOCS_SECRET, now=DOCS_TS) == headers
    with pytest.raises(TimestampOutOfRange):
        _verify(spec, headers, DOCS_BODY, secrets=[DOCS_SECRET], now=DOCS_TS + 301)


# --- configuration-time validation ---------------------------------------------------------------


def test_parse_defaults() -> None:
    spec = HmacSpec.parse({"algorithm": "sha1", "encoding": "base64", "signature_header": "X-Sig"})
    assert (spec.prefix, spec.separator, spec.signed_content, spec.timestamp_header) == ("", None, "{body}", None)
    assert (spec.timestamp_unit, spec.tolerance_s) == ("s", 300)
    assert spec.parts == (("body", ""),)


def test_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        STRIPE_LIKE.tolerance_s = 0  # type: ignore[misc]


def test_parse_lists_every_problem() -> None:
    with pytest.raises(ValueError) as info:
        HmacSpec.parse(
            {
                "algorithm": "md5",
                "encoding": "hexadecimal",
                "signature_header": "Bad Header",
                "signed_content": "{bdy}",
                "timestamp_unit": "us",
                "tolerance_s": -1,
                "colour": "blue",
            }
        )
    message = str(info.value)
    for fragment in (
        "unknown key 'colour'",
        "algorithm must be one of sha1, sha256, sha512",
        "encoding must be one",
        "signature_header must be a header name",
        "timestamp_unit must be one of s, ms",
        "tolerance_s must be an integer",
        "unknown placeholder {bdy}",
        "{body} exactly once",
    ):
        assert fragment in message


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        pytest.param({"signed_content": "{timestamp}.{body}"}, "timestamp_header is not set", id="ts-without-header"),
        pytest.param({"timestamp_header": "X-Ts"}, "does not sign it", id="unsigned-ts"),
        pytest.param({"signed_content": "{body}{body}"}, "exactly once", id="body-twice"),
        pytest.param({"signed_content": "{url}"}, "exactly once", id="no-body"),
        pytest.param({"signed_content": "{body} }"}, "unmatched '}'", id="lone-close-brace"),
        pytest.param({"signed_content": "{ {body}"}, "unmatched '{'", id="lone-open-brace"),
        pytest.param({"signed_content": "{header:bad name}{body}"}, "not a valid header name", id="bad-header-ref"),
        pytest.param({"signed_content": 42}, "signed_content must be a string", id="template-not-str"),
        pytest.param({"separator": ""}, "separator must be a non-empty string", id="empty-separator"),
        pytest.param({"prefix": "v1,", "separator": ","}, "separator must not occur inside prefix", id="sep-in-prefix"),
        pytest.param({"prefix": 3}, "prefix must be a string", id="prefix-not-str"),
        pytest.param({"tolerance_s": True}, "tolerance_s must be an integer", id="tolerance-bool"),
        pytest.param({"tolerance_s": 10**9}, "tolerance_s must be an integer", id="tolerance-huge"),
        pytest.param({"timestamp_header": ""}, "timestamp_header must be a header name", id="empty-ts-header"),
        pytest.param({"algorithm": "SHA256"}, "algorithm must be one of", id="algorithm-case"),
    ],
)
def test_parse_rejects(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match="invalid HMAC spec") as info:
        HmacSpec.parse({"algorithm": "sha256", "encoding": "hex", "signature_header": "X-Sig", **overrides})
    assert fragment in str(info.value)


def test_parse_rejects_missing_keys_and_non_mappings() -> None:
    with pytest.raises(ValueError, match="missing required key 'encoding'"):
        HmacSpec.parse({"algorithm": "sha256", "signature_header": "X-Sig"})
    with pytest.raises(ValueError, match="expected a mapping"):
        HmacSpec.parse(["algorithm"])  # type: ignore[arg-type]


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ValueError, match="encoding must be one of"):
        HmacSpec(algorithm="sha256", encoding="b32", signature_header="X-Sig")  # type: ignore[arg-type]


def test_timestamp_signed_through_header_placeholder_is_accepted() -> None:
    spec = HmacSpec.parse(
        {
            "algorithm": "sha256",
            "encoding": "hex",
            "signature_header": "X-Sig",
            "signed_content": "{header:x-ts}:{body}",
            "timestamp_header": "X-Ts",
        }
    )
    _verify(spec, sign(BODY, spec), BODY)


# --- verification --------------------------------------------------------------------------------


def test_signed_request_verifies() -> None:
    _verify(STRIPE_LIKE, sign(BODY), BODY)


def test_body_is_signed_as_raw_bytes() -> None:
    body = b"\xff\xfe{not utf-8}\x00"
    _verify(STRIPE_LIKE, sign(body), body)


def test_literal_braces_url_method_and_header_parts() -> None:
    spec = HmacSpec.parse(
        {
            "algorithm": "sha512",
            "encoding": "base64",
            "signature_header": "Signature",
            "signed_content": "{{{method} {url}}}|{header:X-Account}|{body}",
        }
    )
    url = "https://hooks.example.com/in?x=1"
    headers = sign(BODY, spec, headers={"X-Account": "acct_7"}, url=url, method="PUT")
    _verify(spec, headers, BODY, url=url, method="put")
    with pytest.raises(SignatureMismatch):
        _verify(spec, headers, BODY, url=url + "&y=2", method="PUT")
    with pytest.raises(MissingHeader):
        _verify(spec, {k: v for k, v in headers.items() if k != "X-Account"}, BODY, url=url, method="PUT")


def test_milliseconds_timestamp() -> None:
    spec = dataclasses.replace(STRIPE_LIKE, timestamp_unit="ms")
    _verify(spec, sign(BODY, spec, now=NOW - 299.5), BODY)
    with pytest.raises(TimestampOutOfRange):
        _verify(spec, sign(BODY, spec, now=NOW - 301), BODY)


def test_hex_case_and_base64_padding_do_not_matter() -> None:
    headers = sign(BODY)
    _verify(STRIPE_LIKE, {**headers, "X-Sig": "v1=" + headers["X-Sig"].removeprefix("v1=").upper()}, BODY)
    spec = HmacSpec.parse({"algorithm": "sha1", "encoding": "base64", "signature_header": "X-Sig"})
    unpadded = sign(BODY, spec)["X-Sig"].rstrip("=")
    _verify(spec, {"X-Sig": unpadded}, BODY)


def test_several_signatures_in_one_header() -> None:
    headers = sign(BODY)
    rotated = {**headers, "X-Sig": "v1=" + "ab" * 32 + ", garbage , v0=abc," + headers["X-Sig"]}
    _verify(STRIPE_LIKE, rotated, BODY)


@pytest.mark.parametrize(
    ("headers", "body", "secrets", "now", "error"),
    [
        pytest.param(sign(BODY), BODY + b" ", [SECRET], NOW, SignatureMismatch, id="tampered-body"),
        pytest.param(sign(BODY), BODY, ["other"], NOW, SignatureMismatch, id="wrong-secret"),
        pytest.param(sign(BODY, now=NOW - 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="stale"),
        pytest.param(sign(BODY, now=NOW + 301), BODY, [SECRET], NOW, TimestampOutOfRange, id="future"),
        pytest.param({"X-Ts": str(NOW)}, BODY, [SECRET], NOW, MissingHeader, id="missing-signature"),
        pytest.param({"X-Sig": sign(BODY)["X-Sig"]}, BODY, [SECRET], NOW, MissingHeader, id="missing-timestamp"),
        pytest.param({**sign(BODY), "X-Ts": "noon"}, BODY, [SECRET], NOW, MalformedHeader, id="garbled-timestamp"),
        pytest.param({**sign(BODY), "X-Sig": "v1=zz"}, BODY, [SECRET], NOW, MalformedHeader, id="garbled-signature"),
        pytest.param(
            {**sign(BODY), "X-Sig": sign(BODY)["X-Sig"][3:]}, BODY, [SECRET], NOW, MalformedHeader, id="missing-prefix"
        ),
        pytest.param(sign(BODY), BODY, [], NOW, MissingSecret, id="no-secret"),
    ],
)
def test_rejects(
    headers: dict[str, str], body: bytes, secrets: list[str], now: float, error: type[VerificationError]
) -> None:
    with pytest.raises(error) as info:
        _verify(STRIPE_LIKE, headers, body, secrets=secrets, now=now)
    assert info.value.reason == error.reason


def test_rotated_secret_accepted() -> None:
    _verify(STRIPE_LIKE, sign(BODY, secret="old"), BODY, secrets=["new", "old"])


SPECS = st.builds(
    lambda algorithm, encoding, prefix, unit: HmacSpec.parse(
        {
            "algorithm": algorithm,
            "encoding": encoding,
            "signature_header": "X-Sig",
            "prefix": prefix,
            "separator": " ",
            "signed_content": "{timestamp}:{method}:{body}",
            "timestamp_header": "X-Ts",
            "timestamp_unit": unit,
        }
    ),
    st.sampled_from(["sha1", "sha256", "sha512"]),
    st.sampled_from(["hex", "base64"]),
    st.sampled_from(["", "v1=", "sha256="]),
    st.sampled_from(["s", "ms"]),
)


@settings(max_examples=200, deadline=None)
@given(spec=SPECS, body=st.binary(max_size=256), secret=st.text(min_size=1, max_size=40))
def test_signed_requests_round_trip(spec: HmacSpec, body: bytes, secret: str) -> None:
    _verify(spec, sign(body, spec, secret=secret), body, secrets=[secret])


@settings(max_examples=200, deadline=None)
@given(spec=SPECS, body=st.binary(max_size=256), sig=st.text(max_size=120), ts=st.text(max_size=20))
def test_only_verification_errors_escape(spec: HmacSpec, body: bytes, sig: str, ts: str) -> None:
    with contextlib.suppress(VerificationError):
        _verify(spec, {"X-Sig": sig, "X-Ts": ts}, body)


# --- entry points --------------------------------------------------------------------------------


def entry_ok(
    *, secrets: Sequence[str], headers: Mapping[str, str], body: bytes, method: str, url: str, now: float
) -> None:
    if headers.get("x-token") != secrets[0]:
        raise SignatureMismatch("token mismatch")


def entry_returns_false(**kwargs: Any) -> bool:
    return False


def entry_crashes(**kwargs: Any) -> None:
    raise KeyError("x-token")


def entry_wrong_arguments(body: bytes) -> None:
    return None


NOT_CALLABLE = 42
_MODULE = "tests.verifiers.test_custom_spec"


def _call(reference: str, headers: Mapping[str, str]) -> None:
    load_entry_point(reference)(secrets=["t0k"], headers=headers, body=b"", method="POST", url="", now=NOW)


def test_entry_point_is_loaded_and_called() -> None:
    _call(f"{_MODULE}:entry_ok", {"x-token": "t0k"})
    with pytest.raises(SignatureMismatch):
        _call(f"{_MODULE}:entry_ok", {"x-token": "nope"})


class _Holder:
    @staticmethod
    def verify(**kwargs: Any) -> None:
        return None


SPEC_HOLDER = _Holder()


def test_entry_point_dotted_attribute() -> None:
    verify = load_entry_point(f"{_MODULE}:SPEC_HOLDER.verify")
    verify(secrets=["x"], headers={}, body=b"", method="POST", url="", now=NOW)


def test_entry_point_false_means_rejected() -> None:
    with pytest.raises(SignatureMismatch):
        _call(f"{_MODULE}:entry_returns_false", {})


def test_entry_point_crash_becomes_verification_error() -> None:
    with pytest.raises(VerificationError) as info:
        _call(f"{_MODULE}:entry_crashes", {})
    assert isinstance(info.value.__cause__, KeyError)


@pytest.mark.parametrize(
    ("reference", "fragment"),
    [
        pytest.param("no_colon_here", "must look like", id="format"),
        pytest.param(":function", "must look like", id="no-module"),
        pytest.param(f"{_MODULE}:", "must look like", id="no-attribute"),
        pytest.param("hookrouter_no_such_module:verify", "cannot be loaded: ModuleNotFoundError", id="no-module-found"),
        pytest.param(f"{_MODULE}:missing", "cannot be loaded: AttributeError", id="no-attribute-found"),
        pytest.param(f"{_MODULE}:NOT_CALLABLE", "is not callable", id="not-callable"),
        pytest.param(f"{_MODULE}:entry_wrong_arguments", "does not accept", id="wrong-signature"),
    ],
)
def test_entry_point_rejected_at_configuration_time(reference: str, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        load_entry_point(reference)
    assert fragment in str(info.value)
