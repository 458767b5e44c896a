"""WorkOS webhooks.

Docs: https://workos.com/docs/events/data-syncing/webhooks/3-process-the-events/b-validate-the-requests-manually

Signed string: ``t + "." + raw_body`` where ``WorkOS-Signature: t=<unix ms>, v1=<hex>``. HMAC-SHA256 keyed
with the endpoint's secret, lowercase hex. The timestamp is in **milliseconds**; WorkOS's SDKs allow 180 s,
which we apply in both directions. Tenant: ``data.organization_id``; event type ``event``
(``dsync.user.created``); delivery id: the event ``id``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import stamped_hmac

verify, sign = stamped_hmac("workos-signature", scheme="workos", tolerance_s=180, scale=1000, joiner=", ")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo(dig(data, "data", "organization_id"), dig(data, "event"), dig(data, "id"))]


PROVIDER = register(Provider("workos", verify, extract=extract, sign=sign))
