"""GitHub webhooks.

Docs: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries

Signed string: the raw body, HMAC-SHA256 with the webhook secret, hex with the ``sha256=`` prefix in
``X-Hub-Signature-256``. The legacy SHA-1 header is not accepted: it is weaker and always sent beside
the SHA-256 one. There is no timestamp; replays are stopped by deduplicating ``X-GitHub-Delivery``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import hmac_hex, require_any


def verify(request: Request) -> None:
    sig = request.require_header("x-hub-signature-256")
    secrets = request.require_secrets()
    require_any(("sha256=" + hmac_hex(s.encode(), request.body) for s in secrets), [sig], scheme="github-sha256")


def handshake(request: Request) -> HandshakeReply | None:
    # GitHub's "ping" on hook creation is signed like any event: acknowledge it once verified.
    if request.header("x-github-event") != "ping":
        return None
    verify(request)
    return HandshakeReply(200, {"content-type": "application/json"}, b'{"ok":true}')


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    event = request.header("x-github-event") or ""
    action = dig(data, "action")
    tenant = first(
        dig(data, "installation", "id"),
        request.header("x-github-hook-installation-target-id") or "",
        dig(data, "organization", "id"),
        dig(data, "repository", "id"),
    )
    return [
        EventInfo(tenant, f"{event}.{action}" if event and action else event, request.header("x-github-delivery") or "")
    ]


def sign(s: SignInput) -> Signed:
    return s.signed(
        {
            "x-hub-signature-256": "sha256=" + hmac_hex(s.secret.encode(), s.body),
            "x-github-event": s.given("x-github-event", "ping" if b'"zen"' in s.body else "push"),
            "x-github-delivery": s.given("x-github-delivery", s.delivery_id()),
        }
    )


PROVIDER = register(Provider("github", verify, handshake, extract, sign=sign))
