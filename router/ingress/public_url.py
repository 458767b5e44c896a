"""The URL a provider signed, rebuilt from configuration, never from the request's own Host.

URL-signing schemes (Twilio, HubSpot v2/v3, Trello, Mandrill, monday's and Pub/Sub's ``aud``, Gong's
``webhook_url``) sign the URL the provider was given. Host and X-Forwarded-* are whatever the caller
sends, so trusting them lets a signature made for another host verify here: the scheme and host come
from ``HOOKROUTER_PUBLIC_URL`` (or the integration's own ``public_url``). The path and query are the
request's as received on the wire, undecoded: a provider given ``/x/tw%40e2e`` signs ``%40``, not ``@``.
"""

from __future__ import annotations

from starlette.requests import Request


def target(request: Request) -> str:
    """The request's path and query string exactly as they came over the wire."""
    # raw_path is the undecoded path (the ASGI spec leaves it optional; servers we run set it). Bytes
    # outside ASCII cannot be in a request line a provider sends, so latin-1 maps them one to one.
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    query: bytes = request.scope.get("query_string", b"")
    path = raw.decode("latin-1")
    return path + "?" + query.decode("latin-1") if query else path


def signed_url(request: Request, base: str) -> str:
    """``base`` (scheme, host and any prefix a proxy strips) followed by the raw path and query.

    Without a base only the path and query are given: schemes that sign the host then refuse the request
    (``missing_public_url``), while those that read a query parameter (Dropbox's challenge, Graph's
    validationToken, a URL token) still find it.
    """
    return base.rstrip("/") + target(request) if base else target(request)
