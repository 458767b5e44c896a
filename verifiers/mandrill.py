"""Mailchimp Transactional (Mandrill) webhooks.

Docs: https://mailchimp.com/developer/transactional/guides/track-respond-activity-webhooks/
(section "Authenticating webhook requests").

Signed string: the webhook URL exactly as registered (``request.url``, the public URL including its
query) followed by every POST form field, sorted by name, as ``name + value`` with no separators.
HMAC-SHA1 keyed with the webhook's key, base64 in ``X-Mandrill-Signature``. The body is form-encoded
with one field, ``mandrill_events``, a JSON array. No timestamp; dedupe on each event's ``_id``.
Mandrill checks a new webhook URL with a HEAD request, answered 200 (it carries no signature).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, form, loads
from verifiers._hmac import hmac_b64, require_any
from verifiers._query_and_batches import event_json
from verifiers.errors import MalformedBody


def signed_string(url: str, body: bytes) -> bytes:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedBody("form body is not UTF-8") from None
    # PHP's $_POST keeps the last of repeated names; Mandrill's reference code then ksorts it.
    fields = dict(parse_qsl(text, keep_blank_values=True))
    joined = url + "".join(name + value for name, value in sorted(fields.items()))
    return joined.encode("utf-8", "replace")


def verify(request: Request) -> None:
    sig = request.require_header("x-mandrill-signature")
    secrets = request.require_secrets()
    message = signed_string(request.public_url(), request.body)
    require_any((hmac_b64(s.encode(), message, "sha1") for s in secrets), [sig.strip()], scheme="mandrill")


def handshake(request: Request) -> HandshakeReply | None:
    return HandshakeReply(200) if request.method == "HEAD" else None


def extract(request: Request) -> list[EventInfo]:
    events = loads(form(request.body).get("mandrill_events", "").encode())
    if not isinstance(events, list):
        return []
    # Message events name their kind in "event"; sync events (whitelist/blacklist) in "type".
    # The webhook belongs to one Mandrill account, so the tenant comes from the integration, not the body.
    return [
        EventInfo("", first(dig(e, "event"), dig(e, "type")), first(dig(e, "_id"), dig(e, "msg", "_id")), event_json(e))
        for e in events
        if isinstance(e, dict)
    ]


def sign(s: SignInput) -> Signed:
    return s.signed(
        {"x-mandrill-signature": hmac_b64(s.secret.encode(), signed_string(s.require_url(), s.body), "sha1")}
    )


PROVIDER = register(Provider("mandrill", verify, handshake, extract, signs_url=True, sign=sign))
