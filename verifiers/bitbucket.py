"""Bitbucket Cloud webhooks.

Docs: https://support.atlassian.com/bitbucket-cloud/docs/manage-webhooks/#Secure-webhooks

Signed string: the raw body, HMAC-SHA256 keyed with the webhook's secret, lowercase hex with the
``sha256=`` prefix in ``X-Hub-Signature``. No timestamp; ``X-Request-UUID`` names the delivery. Event type:
``X-Event-Key`` (``repo:push``, ``pullrequest:created``); tenant: the workspace, ``repository.workspace.uuid``.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-hub-signature", scheme="bitbucket", prefix="sha256=")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "repository", "workspace", "uuid"), dig(data, "repository", "owner", "uuid"))
    return [EventInfo(tenant, request.header("x-event-key") or "", request.header("x-request-uuid") or "")]


PROVIDER = register(Provider("bitbucket", verify, extract=extract, sign=sign))
