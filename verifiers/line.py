"""LINE Messaging API webhooks.

Docs: https://developers.line.biz/en/docs/messaging-api/receiving-messages/#verifying-signatures

Signed string: the raw body, HMAC-SHA256 keyed with the channel secret, base64 in ``x-line-signature``.
No timestamp is signed; each event's ``webhookEventId`` is unique and kept on redelivery
(``deliveryContext.isRedelivery``). The body is ``{"destination": <bot user id>, "events": [...]}``: one
event per ``EventInfo``, tenant ``destination``, event type ``type`` (``message``, ``follow``, ...). A
verification from the console carries an empty ``events`` list and is answered 200 like any event.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac
from verifiers._query_and_batches import event_json

verify, sign = body_hmac("x-line-signature", scheme="line", encoding="base64")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    events = data.get("events") if isinstance(data, dict) else None
    destination = dig(data, "destination")
    if not isinstance(events, list) or not events:
        return [EventInfo(destination, "", "")]
    return [
        EventInfo(destination, dig(e, "type"), dig(e, "webhookEventId"), event_json(e))
        for e in events
        if isinstance(e, dict)
    ]


PROVIDER = register(Provider("line", verify, extract=extract, sign=sign))
