"""Resend webhooks, delivered through Svix (Standard Webhooks).

Docs: https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests

Signed string: ``svix-id + "." + svix-timestamp + "." + raw_body``, HMAC-SHA256 keyed with the base64 key
after the ``whsec_`` prefix of the signing secret, base64 ``v1,<sig>`` entries in ``svix-signature``;
timestamps more than 300 s from now either way are rejected (``standard_webhooks.py``). Event type
``type`` (``email.delivered``); delivery id ``svix-id``; the account is the webhook's owner (route by URL).
"""

from __future__ import annotations

from dataclasses import replace

from verifiers import standard_webhooks
from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, loads

verify = standard_webhooks.verify


def sign(s: SignInput) -> Signed:
    return standard_webhooks.sign(replace(s, name="svix"))  # Svix's header names


def extract(request: Request) -> list[EventInfo]:
    return [EventInfo("", dig(loads(request.body), "type"), request.header("svix-id") or "")]


PROVIDER = register(Provider("resend", verify, extract=extract, sign=sign))
