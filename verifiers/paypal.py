"""PayPal webhooks: an RSA signature checked with PayPal's certificate, itself checked against trusted roots.

Docs: https://developer.paypal.com/api/rest/webhooks/rest/#link-selfverificationmethod

Signed string: ``PAYPAL-TRANSMISSION-ID + "|" + PAYPAL-TRANSMISSION-TIME + "|" + webhook id + "|" +
crc32(raw body)`` (the CRC as an unsigned decimal), SHA256withRSA (``PAYPAL-AUTH-ALGO``), base64 in
``PAYPAL-TRANSMISSION-SIG``. The public key is in the certificate at ``PAYPAL-CERT-URL``.

A verifier does no I/O, so the certificate comes in as a secret; the secrets are:
- ``webhook_id=<id>``: the webhook's id in PayPal (part of the signed string; required);
- PEM certificates (``-----BEGIN CERTIFICATE-----``): the roots trusted to issue PayPal's certificate;
- ``cert=<PEM chain>``: PayPal's certificate and its intermediates, leaf first, as fetched from
  ``PAYPAL-CERT-URL`` (through the router's guarded client) or pinned by the operator.
The chain must lead, certificate by certificate, to a configured root; every certificate must be valid at
``now``; the leaf must be issued to ``messageverificationcerts.paypal.com``. ``PAYPAL-CERT-URL`` must be
https on a ``paypal.com`` host. The transmission time must be within 300 s of now in either direction.
Tenant: the merchant (``resource.merchant_id`` or ``resource.payee.merchant_id``); event type
``event_type`` (``PAYMENT.CAPTURE.COMPLETED``); delivery id: the event ``id`` (``WH-...``).
"""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import b64decode_strict, check_window
from verifiers._keys import rsa_private_key
from verifiers.errors import MalformedHeader, MissingSecret, SignatureMismatch, UnsupportedVersion

TOLERANCE_S = 300
LEAF_NAME = "messageverificationcerts.paypal.com"
H = "paypal-"
ID, TIME, SIG, CERT_URL, ALGO = (
    H + n for n in ("transmission-id", "transmission-time", "transmission-sig", "cert-url", "auth-algo")
)


def _certificates(text: str) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(text.strip().encode())
    except ValueError:
        return []


def _config(secrets: tuple[str, ...]) -> tuple[list[str], list[x509.Certificate], list[x509.Certificate]]:
    ids: list[str] = []
    roots: list[x509.Certificate] = []
    chain: list[x509.Certificate] = []
    for secret in secrets:
        if secret.startswith("webhook_id="):
            ids.append(secret[len("webhook_id=") :])
        elif secret.startswith("cert="):
            chain = chain or _certificates(secret[len("cert=") :])
        elif secret.lstrip().startswith("-----BEGIN CERTIFICATE"):
            roots.extend(_certificates(secret))
    if not ids or not roots:
        raise MissingSecret("PayPal needs a webhook_id= entry and at least one trusted root certificate")
    if not chain:
        raise MissingSecret("PayPal's certificate (cert=) has not been fetched or configured")
    return ids, roots, chain


def _issued_by_any(cert: x509.Certificate, issuers: list[x509.Certificate]) -> bool:
    for issuer in issuers:
        try:
            cert.verify_directly_issued_by(issuer)
            return True
        except (ValueError, TypeError, InvalidSignature):
            continue
    return False


def check_chain(chain: list[x509.Certificate], roots: list[x509.Certificate], now: float) -> rsa.RSAPublicKey:
    """The leaf's key once the chain leads to a root, each certificate valid at ``now``; else an error."""
    when = datetime.fromtimestamp(now, UTC)
    for cert in chain:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            raise SignatureMismatch("a PayPal certificate is not valid now", scheme="paypal-cert")
    for cert, issuer in zip(chain, chain[1:], strict=False):
        if not _issued_by_any(cert, [issuer]):
            raise SignatureMismatch("the PayPal certificate chain is broken", scheme="paypal-cert")
    last = chain[-1]
    if last not in roots and not _issued_by_any(last, roots):
        raise SignatureMismatch("the PayPal certificate does not lead to a trusted root", scheme="paypal-cert")
    names = [a.value for a in chain[0].subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    key = chain[0].public_key()
    if names != [LEAF_NAME] or not isinstance(key, rsa.RSAPublicKey):
        raise SignatureMismatch(
            "the certificate is not PayPal's message verification certificate", scheme="paypal-cert"
        )
    return key


def _transmission_time(raw: str) -> float:
    try:
        stamp = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MalformedHeader("paypal-transmission-time is not ISO 8601", header=TIME) from None
    if stamp.tzinfo is None:
        raise MalformedHeader("paypal-transmission-time has no UTC offset", header=TIME)
    return stamp.timestamp()


def signed_string(transmission_id: str, timestamp: str, webhook_id: str, body: bytes) -> bytes:
    return f"{transmission_id}|{timestamp}|{webhook_id}|{zlib.crc32(body)}".encode("utf-8", "replace")


def verify(request: Request) -> None:
    transmission_id, timestamp = request.require_header(ID), request.require_header(TIME)
    signature = b64decode_strict(request.require_header(SIG))
    cert_url = urlsplit(request.require_header(CERT_URL).strip())
    if cert_url.scheme != "https" or not (cert_url.hostname or "").endswith(".paypal.com"):
        raise MalformedHeader("paypal-cert-url is not an https paypal.com URL", header=CERT_URL)
    if request.require_header(ALGO).strip() != "SHA256withRSA":
        raise UnsupportedVersion("only SHA256withRSA is supported", header=ALGO)
    ids, roots, chain = _config(request.require_secrets())
    check_window(_transmission_time(timestamp), now=request.now, tolerance_s=TOLERANCE_S)
    key = check_chain(chain, roots, request.now)
    for webhook_id in ids:
        try:
            key.verify(
                signature,
                signed_string(transmission_id, timestamp, webhook_id, request.body),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            return
        except InvalidSignature:
            continue
    raise SignatureMismatch(
        "PayPal's certificate does not verify the signature", scheme="paypal-rsa", ids_tried=len(ids)
    )


def sign(s: SignInput) -> Signed:
    """Signed with the private key of the certificate (PEM, first), for the ``webhook_id=`` entry after it."""
    key = rsa_private_key(s.secret, "PayPal signs with the RSA private key of its certificate (PEM)")
    webhook_id = next((e[len("webhook_id=") :] for e in s.secrets[1:] if e.startswith("webhook_id=")), "")
    if not webhook_id:
        raise NotSignable("PayPal's signed string names the webhook: give a webhook_id= entry")
    transmission_id = s.given(ID, s.delivery_id())
    timestamp = s.given(TIME, datetime.fromtimestamp(int(s.now), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    signature = key.sign(
        signed_string(transmission_id, timestamp, webhook_id, s.body), padding.PKCS1v15(), hashes.SHA256()
    )
    return s.signed(
        {
            ID: transmission_id,
            TIME: timestamp,
            SIG: base64.b64encode(signature).decode(),
            CERT_URL: s.given(
                CERT_URL, "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-a5cafa77"
            ),
            ALGO: "SHA256withRSA",
        }
    )


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(dig(data, "resource", "merchant_id"), dig(data, "resource", "payee", "merchant_id"))
    return [EventInfo(tenant, dig(data, "event_type"), dig(data, "id"))]


PROVIDER = register(Provider("paypal", verify, extract=extract, sign=sign))
