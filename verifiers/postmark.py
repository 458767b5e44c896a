"""Postmark webhooks.

Docs: https://postmarkapp.com/developer/webhooks/webhooks-overview#protecting-your-webhook

Postmark signs nothing: put Basic credentials in the webhook URL (``https://user:password@host/...``) and
Postmark sends ``Authorization: Basic base64(user:password)``; each secret is one ``user:password`` pair,
compared in constant time. No timestamp. Event type ``RecordType`` (``Delivery``, ``Bounce``, ``Open``);
delivery id ``MessageID`` + ``RecordType``; tenant ``ServerID`` when present.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import basic_auth

verify, sign = basic_auth()


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, message = dig(data, "RecordType"), dig(data, "MessageID")
    return [EventInfo(dig(data, "ServerID"), kind, f"{message}:{kind}" if message and kind else "")]


PROVIDER = register(Provider("postmark", verify, extract=extract, sign=sign))
