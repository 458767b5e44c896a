"""Clerk webhooks, delivered through Svix (Standard Webhooks).

Docs: https://clerk.com/docs/webhooks/sync-data#verify-webhook-requests

Signed string: ``svix-id + "." + svix-timestamp + "." + raw_body``, HMAC-SHA256 keyed with the base64 key
after the ``whsec_`` prefix of the signing secret, base64 ``v1,<sig>`` entries in ``svix-signature``;
timestamps more than 300 s from now either way are rejected (``standard_webhooks.py``). Event type
``type`` (``user.created``); delivery id ``svix-id``; tenant: the organization the event is about
(``data.organization.id``, ``data.organization_id``, or ``data.id`` of an ``organization.*`` event), else
none (route by URL).
"""

from __future__ import annotations

from dataclasses import replace

from verifiers import standard_webhooks
from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads

verify = standard_webhooks.verify


def sign(s: SignInput) -> Signed:
    return standard_webhooks.sign(replace(s, name="svix"))  # Svix's header names


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind = dig(data, "type")
    organization = dig(data, "data", "id") if kind.startswith("organization.") else ""
    tenant = first(dig(data, "data", "organization", "id"), dig(data, "data", "organization_id"), organization)
    return [EventInfo(tenant, kind, request.header("svix-id") or "")]


PROVIDER = register(Provider("clerk", verify, extract=extract, sign=sign))
