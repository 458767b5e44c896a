"""Azure DevOps service hooks (Web Hooks consumer).

Docs: https://learn.microsoft.com/en-us/azure/devops/service-hooks/services/webhooks

Azure DevOps signs nothing: a subscription with "Basic authentication username / password" sends
``Authorization: Basic base64(user:password)``; each secret is one ``user:password`` pair, compared in
constant time. No timestamp; dedupe on the notification ``id``. Event type ``eventType``
(``git.push``); tenant: the organization, ``resourceContainers.account.id`` (else the collection).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._families import basic_auth

verify, sign = basic_auth()


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(
        dig(data, "resourceContainers", "account", "id"), dig(data, "resourceContainers", "collection", "id")
    )
    return [EventInfo(tenant, dig(data, "eventType"), dig(data, "id"))]


PROVIDER = register(Provider("azure_devops", verify, extract=extract, sign=sign))
