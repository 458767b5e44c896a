"""Mollie webhooks (the Webhooks API's signed event deliveries).

Docs: https://docs.mollie.com/reference/webhooks-new#signature-verification

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's signing secret, lowercase hex with the
``sha256=`` prefix in ``X-Mollie-Signature``. No timestamp is signed; dedupe on the event ``id``. Event
type ``type`` (``payment-link.paid``); the payload names no organization, so the tenant comes from the
URL. Classic webhooks (a form body ``id=tr_...``, unsigned) are not
accepted: they carry no proof of origin.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-mollie-signature", scheme="mollie", prefix="sha256=")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo("", dig(data, "type"), dig(data, "id"))]


PROVIDER = register(Provider("mollie", verify, extract=extract, sign=sign))
