"""npm hooks (registry change notifications).

Docs: https://github.com/npm/npm-hook-receiver and https://blog.npmjs.org/post/145260155635/introducing-hooks

Signed string: the raw body, HMAC-SHA256 keyed with the secret given to ``npm hook add``, lowercase hex
with the ``sha256=`` prefix in ``x-npm-signature``. No timestamp. Tenant: the hook's owner (route by URL);
event type: ``event`` (``package:publish``); npm sends no delivery id.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, loads
from verifiers._families import body_hmac

verify, sign = body_hmac("x-npm-signature", scheme="npm", prefix="sha256=")


def extract(request: Request) -> list[EventInfo]:
    return [EventInfo("", dig(loads(request.body), "event"), "")]


PROVIDER = register(Provider("npm", verify, extract=extract, sign=sign))
