"""Help Scout webhooks (Mailbox API).

Docs: https://developer.helpscout.com/webhooks/

Signed string: the raw body, HMAC-**SHA1** keyed with the webhook's secret key, base64 in
``X-HelpScout-Signature``. No timestamp. The event type is the ``X-HelpScout-Event`` header
(``convo.created``); Help Scout sends no delivery id. The body is the conversation or customer itself; the
tenant is the mailbox's account (route by URL), its ``mailboxId`` when present.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-helpscout-signature", scheme="helpscout-sha1", algorithm="sha1", encoding="base64")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "mailboxId"), request.header("x-helpscout-event") or "", "")]


PROVIDER = register(Provider("helpscout", verify, extract=extract, sign=sign))
