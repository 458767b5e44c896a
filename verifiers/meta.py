"""Meta webhooks: Facebook (Pages, Messenger), Instagram and WhatsApp Business (Graph API).

Docs: https://developers.facebook.com/docs/graph-api/webhooks/getting-started#event-notifications
and https://developers.facebook.com/docs/graph-api/webhooks/getting-started#verification-requests

Signed string: the raw body, HMAC-SHA256 keyed with the app secret, lowercase hex with the ``sha256=``
prefix in ``X-Hub-Signature-256``. No timestamp; Meta names no delivery id.

Handshake: ``GET ?hub.mode=subscribe&hub.verify_token=<token>&hub.challenge=<n>`` when the callback URL is
saved. The verify token is configured as a secret entry ``verify_token=<token>`` (the other entries are
app secrets); it is compared in constant time and ``hub.challenge`` is echoed as text/plain. A wrong or
missing token is refused, so nobody else can confirm a subscription to this URL.

Body: ``{"object": "page"|"instagram"|"whatsapp_business_account", "entry": [...]}``; one EventInfo per
entry: tenant ``entry.id`` (the Page, Instagram account or WhatsApp Business Account), event type
``<object>.<changes[0].field>`` (``whatsapp_business_account.messages``) or ``<object>.messaging``.
"""

from __future__ import annotations

from dataclasses import replace

from verifiers._core import EventInfo, HandshakeReply, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac
from verifiers._hmac import require_any
from verifiers._query_and_batches import echo, event_json, query_values
from verifiers.errors import MissingHeader, MissingSecret

_verify, _sign = body_hmac("x-hub-signature-256", scheme="meta-sha256", prefix="sha256=")
TOKEN_PREFIX = "verify_token="  # noqa: S105  (the name of a secret entry, not a secret)


def _app_secrets(secrets: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(s for s in secrets if not s.startswith(TOKEN_PREFIX))


def verify(request: Request) -> None:
    secrets = _app_secrets(request.require_secrets())
    if not secrets:
        raise MissingSecret("no app secret configured (only verify_token= entries)")
    _verify(replace(request, secrets=secrets))


def sign(s: SignInput) -> Signed:
    secrets = _app_secrets(s.secrets)
    if not secrets:
        raise NotSignable("Meta signs with the app secret, not the verify_token")
    return _sign(replace(s, secrets=secrets))


def handshake(request: Request) -> HandshakeReply | None:
    if request.method != "GET" or query_values(request.url, "hub.mode")[:1] != ["subscribe"]:
        return None
    tokens = [s[len(TOKEN_PREFIX) :] for s in request.require_secrets() if s.startswith(TOKEN_PREFIX)]
    if not tokens:
        raise MissingSecret("no verify_token= secret configured")
    received = query_values(request.url, "hub.verify_token")
    if not received:
        raise MissingHeader("hub.verify_token is required", header="?hub.verify_token")
    require_any(tokens, received[:1], scheme="url-token")
    return echo((query_values(request.url, "hub.challenge") or [""])[0])


def _event_type(kind: str, entry: object) -> str:
    field = dig(entry, "changes", 0, "field") or ("messaging" if dig(entry, "messaging", 0, "timestamp") else "")
    return f"{kind}.{field}" if kind and field else kind


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    entries = data.get("entry") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return []
    kind = dig(data, "object")
    return [EventInfo(dig(e, "id"), _event_type(kind, e), "", event_json(e)) for e in entries if isinstance(e, dict)]


PROVIDER = register(
    Provider("meta", verify, handshake, extract, aliases=("facebook", "instagram", "whatsapp"), sign=sign)
)
