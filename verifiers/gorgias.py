"""Gorgias HTTP integrations.

Docs: https://docs.gorgias.com/en-US/http-integrations-81822 (Settings → App Store → HTTP Integration: URL,
method, headers and a templated body, sent on the triggers chosen: ticket created, ticket updated, new message
in ticket, ...)

Gorgias signs nothing: its HTTP integration sends the headers the operator configures. The operator adds
``X-Hookrouter-Token`` with the integration's secret as its value, and it is compared in constant time. No
timestamp. The body is the operator's template; the one documented in README names what the router reads:
``{"event": "ticket-created", "account": "{{ticket.account_id}}"...}`` is read as event type ``event`` (else
``X-Gorgias-Event``, a header the template may set instead), tenant ``account`` (else ``X-Gorgias-Account``),
and delivery id ``message_id`` (else ``ticket.id`` with ``ticket.updated_datetime``).
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._families import header_token

verify, sign = header_token("x-hookrouter-token")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "account"), request.header("x-gorgias-account") or "")
    event_type = first(dig(data, "event"), request.header("x-gorgias-event") or "")
    ticket, updated = dig(data, "ticket", "id"), dig(data, "ticket", "updated_datetime")
    delivery = first(dig(data, "message_id"), f"{ticket}:{updated}" if ticket and updated else "")
    return [EventInfo(tenant, event_type, delivery)]


PROVIDER = register(Provider("gorgias", verify, extract=extract, sign=sign))
