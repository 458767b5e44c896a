"""Buildkite webhooks (signed with a signature, not the plain token).

Docs: https://buildkite.com/docs/apis/webhooks#webhook-signature

Signed string: ``timestamp + "." + raw_body``, HMAC-SHA256 keyed with the webhook's token, lowercase hex.
``X-Buildkite-Signature: timestamp=<unix s>,signature=<hex>``. We reject timestamps more than 300 s from now
in either direction. Webhooks set to send the plain ``X-Buildkite-Token`` instead are not accepted: that
header carries the secret itself and proves nothing about the body. Event type: ``X-Buildkite-Event``
(``build.finished``); delivery id: ``X-Buildkite-Request``; tenant: ``build.pipeline.id`` when present.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MalformedHeader

HEADER = "x-buildkite-signature"
TOLERANCE_S = 300


def _parse(value: str) -> tuple[str, str]:
    fields = dict(item.strip().partition("=")[::2] for item in value.split(","))
    timestamp, signature = fields.get("timestamp", ""), fields.get("signature", "")
    if not timestamp or not signature:
        raise MalformedHeader("x-buildkite-signature is not timestamp=...,signature=...", header=HEADER)
    return timestamp, signature


def verify(request: Request) -> None:
    timestamp, signature = _parse(request.require_header(HEADER))
    secrets = request.require_secrets()
    check_timestamp(timestamp, now=request.now, tolerance_s=TOLERANCE_S)
    message = timestamp.encode() + b"." + request.body
    require_any((hmac_hex(s.encode(), message) for s in secrets), [signature.strip().lower()], scheme="buildkite")


def sign(s: SignInput) -> Signed:
    ts = str(int(s.now))
    return s.signed({HEADER: f"timestamp={ts},signature={hmac_hex(s.secret.encode(), ts.encode() + b'.' + s.body)}"})


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "build", "pipeline", "id"), dig(data, "pipeline", "id"))
    return [EventInfo(tenant, request.header("x-buildkite-event") or "", request.header("x-buildkite-request") or "")]


PROVIDER = register(Provider("buildkite", verify, extract=extract, sign=sign))
