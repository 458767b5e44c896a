"""Close (close.com) webhooks.

Docs: https://developer.close.com/topics/webhooks/ ("Webhook signatures").

Signed string: ``close-sig-timestamp + raw_body`` (no separator), HMAC-SHA256 keyed with the
subscription's ``signature_key`` **hex-decoded** to bytes, lowercase hex in ``close-sig-hash``. The
timestamp is unix seconds; Close documents no window, we reject more than 300 s either way.
"""

from __future__ import annotations

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import check_timestamp, hmac_hex, require_any
from verifiers.errors import MissingSecret

TOLERANCE_S = 300


def _keys(secrets: tuple[str, ...]) -> list[bytes]:
    keys = []
    for secret in secrets:
        try:
            keys.append(bytes.fromhex(secret.strip()))
        except ValueError:
            continue  # one mistyped key must not hide the others during rotation
    if not keys:
        raise MissingSecret("no secret is a hex signature_key")
    return keys


def verify(request: Request) -> None:
    sig = request.require_header("close-sig-hash")
    ts = request.require_header("close-sig-timestamp")
    keys = _keys(request.require_secrets())
    check_timestamp(ts, now=request.now, tolerance_s=TOLERANCE_S)
    message = ts.strip().encode() + request.body
    require_any((hmac_hex(k, message) for k in keys), [sig.strip().lower()], scheme="close")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, action = dig(data, "event", "object_type"), dig(data, "event", "action")
    event_type = f"{kind}.{action}" if kind and action else first(kind, action)
    tenant = first(dig(data, "event", "organization_id"), dig(data, "organization_id"))
    return [EventInfo(tenant, event_type, dig(data, "event", "id"))]


def sign(s: SignInput) -> Signed:
    try:
        key = bytes.fromhex(s.secret.strip())
    except ValueError:
        raise NotSignable("Close's signature_key is hex") from None
    ts = str(int(s.now))
    return s.signed({"close-sig-hash": hmac_hex(key, ts.encode() + s.body), "close-sig-timestamp": ts})


PROVIDER = register(Provider("close", verify, extract=extract, sign=sign))
