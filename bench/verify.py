"""Verification throughput per provider, next to a bare HMAC-SHA256 baseline measured in the same run.

    python bench/verify.py [--seconds 0.6]

For each provider in SIGNERS and each body size it forges one valid request, checks that it verifies,
then times ``verifiers.verify`` on it (best of a few timeit repeats, so noise from other processes
inflates nothing). The baseline is ``hmac.new(key, body, sha256).hexdigest()`` alone: the ratio shows
what header parsing, timestamp checks and constant-time comparison cost on top of the digest.

To add a provider, add one signer: ``(body, secret, now) -> (headers, url)``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import timeit
from collections.abc import Callable

import verifiers

Signer = Callable[[bytes, str, int], tuple[dict[str, str], str]]

NOW = 1_700_000_000
# Valid for every scheme below: a literal key for Slack/GitHub/Stripe, base64 after whsec_ for Standard Webhooks.
SECRET = "whsec_" + base64.b64encode(b"bench-secret-of-thirty-two-bytes").decode()
SIZES = {"1 KiB": 1024, "64 KiB": 64 * 1024}


def _hex(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign_slack(body: bytes, secret: str, now: int) -> tuple[dict[str, str], str]:
    sig = "v0=" + _hex(secret.encode(), f"v0:{now}:".encode() + body)
    return {"x-slack-request-timestamp": str(now), "x-slack-signature": sig}, ""


def sign_github(body: bytes, secret: str, now: int) -> tuple[dict[str, str], str]:
    return {"x-hub-signature-256": "sha256=" + _hex(secret.encode(), body), "x-github-event": "push"}, ""


def sign_stripe(body: bytes, secret: str, now: int) -> tuple[dict[str, str], str]:
    return {"stripe-signature": f"t={now},v1={_hex(secret.encode(), f'{now}.'.encode() + body)}"}, ""


def sign_standard_webhooks(body: bytes, secret: str, now: int) -> tuple[dict[str, str], str]:
    msg_id = "msg_bench"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{now}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(now),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    return headers, ""


SIGNERS: dict[str, Signer] = {
    "slack": sign_slack,
    "github": sign_github,
    "stripe": sign_stripe,
    "standard_webhooks": sign_standard_webhooks,
}


def seconds_per_call(fn: Callable[[], object], *, budget_s: float) -> float:
    """Best-of-N seconds per call; about ``budget_s`` in total (more only if one call takes longer)."""
    timer = timeit.Timer(fn)
    number, took = timer.autorange()  # grows the loop until one run takes >= 0.2 s
    repeats = max(1, round((budget_s - took) / max(took, 1e-9)))
    return min([took, *timer.repeat(repeat=min(repeats, 5), number=number)]) / number


def body_of(size: int) -> bytes:
    filler = b"x" * (size - len(b'{"data":""}'))
    return b'{"data":"' + filler + b'"}'


def baseline(body: bytes, *, budget_s: float) -> float:
    key = SECRET.encode()
    return seconds_per_call(lambda: hmac.new(key, body, hashlib.sha256).hexdigest(), budget_s=budget_s)


def provider_cost(name: str, body: bytes, *, budget_s: float) -> float:
    headers, url = SIGNERS[name](body, SECRET, NOW)
    verifiers.verify(name, secrets=[SECRET], headers=headers, body=body, url=url, now=NOW)  # must verify first

    def run() -> None:
        verifiers.verify(name, secrets=[SECRET], headers=headers, body=body, url=url, now=NOW)

    return seconds_per_call(run, budget_s=budget_s)


def row(name: str, size: str, cost_s: float, base_s: float) -> str:
    return f"{name:<22} {size:>7} {1 / cost_s:>16,.0f} {cost_s * 1e6:>11.2f} {cost_s / base_s:>10.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="time budget per measurement (default 0.6)")
    parser.add_argument("providers", nargs="*", default=list(SIGNERS), help="subset of: " + ", ".join(SIGNERS))
    args = parser.parse_args()
    print(f"{'provider':<22} {'body':>7} {'verifications/s':>16} {'µs/verify':>11} {'× bare HMAC':>10}")
    for size_label, size in SIZES.items():
        body = body_of(size)
        base_s = baseline(body, budget_s=args.seconds)
        print(row("(bare hmac-sha256 hex)", size_label, base_s, base_s))
        for name in args.providers:
            print(row(name, size_label, provider_cost(name, body, budget_s=args.seconds), base_s))


if __name__ == "__main__":
    main()
