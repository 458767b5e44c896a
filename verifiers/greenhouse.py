"""Greenhouse (Recruiting) web hooks.

Docs: https://developers.greenhouse.io/webhooks.html

Signed string: the whole raw body, HMAC-SHA256 keyed with the secret key entered when the web hook was
created, hex, in ``Signature: sha256 <hex>`` (a space, not ``=``). No timestamp is signed and there is no
delivery id. A ``ping`` action is sent on creation; it is signed and acknowledged once verified.
Web hooks are per organization and the payload names none, so the tenant comes from the URL.
"""

from __future__ import annotations

from verifiers._core import EventInfo, HandshakeReply, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, handshake_json, loads
from verifiers._hmac import hmac_hex, require_any
from verifiers.errors import MalformedHeader, UnsupportedVersion


def _signature(request: Request) -> str:
    scheme, _, value = request.require_header("signature").strip().partition(" ")
    if not value.strip():
        raise MalformedHeader("Signature is not '<algorithm> <hex>'", header="signature")
    if scheme.lower() != "sha256":
        raise UnsupportedVersion("Signature algorithm is not sha256", header="signature")
    return value.strip().lower()


def verify(request: Request) -> None:
    sig = _signature(request)
    secrets = request.require_secrets()
    require_any((hmac_hex(s.encode(), request.body) for s in secrets), [sig], scheme="greenhouse-sha256")


def handshake(request: Request) -> HandshakeReply | None:
    if dig(handshake_json(request.body, b'"ping"'), "action") != "ping":
        return None
    verify(request)
    return HandshakeReply(200, {"content-type": "application/json"}, b'{"ok":true}')


def extract(request: Request) -> list[EventInfo]:
    return [EventInfo("", dig(loads(request.body), "action"), "")]


def sign(s: SignInput) -> Signed:
    return s.signed({"signature": "sha256 " + hmac_hex(s.secret.encode(), s.body)})


PROVIDER = register(Provider("greenhouse", verify, handshake, extract, sign=sign))
