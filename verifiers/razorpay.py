"""Razorpay webhooks.

Docs: https://razorpay.com/docs/webhooks/validate-test/

Signed string: the raw body, HMAC-SHA256 keyed with the webhook secret set in the Dashboard, lowercase hex
in ``X-Razorpay-Signature``. No timestamp is signed; ``x-razorpay-event-id`` names the delivery (Razorpay
retries with the same id). Tenant: ``account_id`` (``acc_...``); event type: ``event`` (``payment.captured``).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-razorpay-signature", scheme="razorpay")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "account_id"), dig(data, "event"), request.header("x-razorpay-event-id") or "")]


PROVIDER = register(Provider("razorpay", verify, extract=extract, sign=sign))
