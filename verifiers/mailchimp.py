"""Mailchimp Marketing (audience) webhooks.

Docs: https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/

Mailchimp signs nothing. Authenticate with a shared secret carried in the webhook URL: register the
URL as ``https://.../webhook/...?secret=<secret>`` (``?token=`` is accepted too) and configure the same
value as the integration's secret. Every value of those query parameters is compared in constant time
against every active secret; one match passes. Rotation: add the new secret, re-save the URL in
Mailchimp, then retire the old one.

Mailchimp validates the URL with a GET when the webhook is saved; we answer 200 once the URL secret
matches. Events are ``application/x-www-form-urlencoded`` (``type``, ``fired_at``, ``data[...]``);
the tenant is the audience id ``data[list_id]``. Mailchimp sends no delivery id.
"""

from __future__ import annotations

from urllib.parse import urlencode

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import form
from verifiers._hmac import require_any
from verifiers._query_and_batches import query_values
from verifiers.errors import MissingHeader

QUERY_NAMES = ("secret", "token")


def verify(request: Request) -> None:
    received = [value for name in QUERY_NAMES for value in query_values(request.url, name)]
    if not received:
        raise MissingHeader("the webhook URL carries no ?secret= parameter", header="?secret")
    secrets = request.require_secrets()
    require_any(secrets, received, scheme="mailchimp-url-secret")


def handshake(request: Request) -> HandshakeReply | None:
    if request.method != "GET":
        return None
    verify(request)  # the validation GET carries the URL secret too: don't confirm a guessed URL
    return HandshakeReply(200, {"content-type": "text/plain; charset=utf-8"}, b"")


def extract(request: Request) -> list[EventInfo]:
    fields = form(request.body)
    return [EventInfo(fields.get("data[list_id]", ""), fields.get("type", ""), "")]


def sign(s: SignInput) -> Signed:
    """The secret rides in the URL: ``?secret=`` is added unless the URL already carries it."""
    if s.secret in query_values(s.url, "secret") + query_values(s.url, "token"):
        return s.signed({})
    joiner = "&" if "?" in s.url else "?"
    return Signed({}, s.body, f"{s.url}{joiner}{urlencode({'secret': s.secret})}")


PROVIDER = register(Provider("mailchimp", verify, handshake, extract, sign=sign))
