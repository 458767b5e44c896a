"""Freshdesk webhooks (the "Trigger webhook" action of automation rules).

Docs: https://support.freshdesk.com/support/solutions/articles/132589-using-webhooks-in-automation-rules

Freshdesk signs nothing. Set the action's "Requires authentication" with a username and password: it then
sends ``Authorization: Basic base64(user:password)``; each secret is one ``user:password`` pair, compared
in constant time. No timestamp and no delivery id. The body is whatever the rule's template says; a JSON
body's ``freshdesk_webhook.ticket_id`` names the ticket and ``triggered_event`` the change when present.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import basic_auth

verify, sign = basic_auth()


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    return [EventInfo("", dig(data, "freshdesk_webhook", "triggered_event"), "")]


PROVIDER = register(Provider("freshdesk", verify, extract=extract, sign=sign))
