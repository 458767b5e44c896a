"""Schemes that compare the secret itself leave no hash of it in their diagnostics (an offline guessing oracle)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest

import verifiers
from tests.verifiers import test_mailchimp, test_microsoft_graph, test_pipedrive
from verifiers import SignatureMismatch


def _mailchimp() -> None:
    test_mailchimp._verify(test_mailchimp.url(secret="guess"))


def _pipedrive() -> None:
    test_pipedrive._verify(test_pipedrive.sign(secret="hookrouter:guess"))


def _graph() -> None:
    test_microsoft_graph._verify(test_microsoft_graph.body_of(test_microsoft_graph.notification("guess")))


GMAIL_TOKEN = "gmail-url-token-s3cret"


def _gmail() -> None:
    verifiers.verify(
        "gmail", secrets=[f"token={GMAIL_TOKEN}"], headers={}, body=b"{}", url="https://h.example/w?token=guess"
    )


@pytest.mark.parametrize(
    ("attempt", "secret", "scheme"),
    [
        pytest.param(_mailchimp, test_mailchimp.SECRET, "mailchimp-url-secret", id="mailchimp"),
        pytest.param(_pipedrive, test_pipedrive.SECRET, "pipedrive-basic", id="pipedrive"),
        pytest.param(_graph, test_microsoft_graph.SECRET, "client-state", id="graph-client-state"),
        pytest.param(_gmail, GMAIL_TOKEN, "url-token", id="gmail-url-token"),
    ],
)
def test_failures_of_secret_schemes_carry_no_fingerprint(attempt: Callable[[], None], secret: str, scheme: str) -> None:
    with pytest.raises(SignatureMismatch) as info:
        attempt()
    diagnostics = info.value.diagnostics
    assert diagnostics["scheme"] == scheme and scheme in verifiers.SECRET_SCHEMES
    assert "expected_fingerprints" not in diagnostics
    text = json.dumps(diagnostics)
    assert hashlib.sha256(secret.encode()).hexdigest()[:8] not in text and secret not in text


def test_hmac_schemes_keep_their_fingerprint() -> None:
    # An HMAC of the body is no oracle for the secret: operators still get to tell expected values apart.
    with pytest.raises(SignatureMismatch) as info:
        verifiers.verify("github", secrets=["s"], headers={"x-hub-signature-256": "sha256=00"}, body=b"{}")
    assert len(info.value.diagnostics["expected_fingerprints"]) == 1
