"""LaunchDarkly webhooks.

Docs: https://docs.launchdarkly.com/home/connecting/webhooks#signing-webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's secret, lowercase hex in
``X-LD-Signature``. No timestamp is signed; dedupe on the audit-log entry ``_id``. Tenant: the account is
the webhook's owner (route by URL); the body names the changed resource's ``kind`` and ``titleVerb``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-ld-signature", scheme="launchdarkly")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, verb = dig(data, "kind"), dig(data, "accesses", 0, "action")
    return [EventInfo("", f"{kind}.{verb}" if kind and verb else kind, dig(data, "_id"))]


PROVIDER = register(Provider("launchdarkly", verify, extract=extract, sign=sign))
