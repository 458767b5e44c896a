"""Jira (Atlassian) webhooks: admin webhooks and Connect apps.

Docs: https://developer.atlassian.com/cloud/jira/platform/webhooks/#secure-admin-webhooks ,
https://developer.atlassian.com/cloud/jira/platform/understanding-jwt-for-connect-apps/ and
https://developer.atlassian.com/cloud/bitbucket/query-string-hash/

Admin webhooks (created with a secret): ``X-Hub-Signature: sha256=<hex>``, HMAC-SHA256 of the raw
body keyed with the webhook secret (the header name has no ``-256``). No timestamp; dedupe on
``X-Atlassian-Webhook-Identifier``.

Connect apps: ``Authorization: JWT <token>``, an HS256 JWT keyed with the ``sharedSecret`` from the
app's install callback. We check, in order: ``alg`` is HS256; the signature (HMAC-SHA256 over
``header.claims``, computed here for every active secret and compared in constant time, PyJWT
only parsing the token); ``exp`` (and ``iat``/``nbf``) against the injected clock with 60 s leeway;
``iss`` (the tenant's clientKey) present; and ``qsh``, the SHA-256 hex of the canonical request
``METHOD&<path>&<query>``: query pairs minus ``jwt``, names and values percent-encoded as RFC 3986
unreserved-only (space ``%20``, ``*`` ``%2A``, ``~`` kept), repeated values sorted and joined by
``,``, pairs sorted by name and joined by ``&``; the path with ``&`` as ``%26`` and no trailing
``/`` (``/`` alone when empty). Atlassian computes the path relative to the app's ``baseUrl``, which
a verifier cannot know, so every suffix of the request path (``/a/b/c``, ``/b/c``, ``/c``, ``/``) is
tried. ``context-qsh`` tokens are for iframes and are refused.

Tenant: Connect ``iss`` (clientKey); admin webhooks the site base URL taken from the payload's
``self`` links (``https://example.atlassian.net``).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from verifiers._core import EventInfo, NotSignable, Provider, Request, Signed, SignInput, register
from verifiers._extract import dig, first, loads
from verifiers._hmac import hmac_digest, hmac_hex, require_any
from verifiers._jwt import check_jwt_times, unverified_jwt
from verifiers.errors import MalformedHeader, MissingHeader, SignatureMismatch, UnsupportedVersion


def _encode(text: str) -> str:
    return quote(text, safe="~", errors="replace")


def canonical_query(query: str) -> str:
    grouped: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name != "jwt":
            grouped.setdefault(_encode(name), []).append(_encode(value))
    return "&".join(f"{name}={','.join(sorted(values))}" for name, values in sorted(grouped.items()))


def canonical_paths(path: str) -> list[str]:
    """The request path and each shorter suffix, canonicalised, longest first."""
    segments = [s for s in path.replace("&", "%26").split("/") if s]
    return ["/" + "/".join(segments[i:]) for i in range(len(segments) + 1)]


def query_hashes(method: str, url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    query = canonical_query(parts.query)
    requests = (f"{method.upper()}&{path}&{query}" for path in canonical_paths(parts.path))
    return [hashlib.sha256(r.encode("utf-8", "replace")).hexdigest() for r in requests]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _verify_connect(request: Request, token: str) -> None:
    header, claims = unverified_jwt(token)
    if header.get("alg") != "HS256":
        raise UnsupportedVersion("Connect JWT must be HS256", header="authorization")
    secrets = request.require_secrets()
    signing_input, _, signature = token.rpartition(".")
    expected = (_b64url(hmac_digest(s.encode(), signing_input.encode("utf-8", "replace"))) for s in secrets)
    require_any(expected, [signature], scheme="atlassian-connect-jwt")
    check_jwt_times(claims, now=request.now)
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        raise MalformedHeader("Connect JWT has no iss (clientKey)", header="authorization")
    qsh = claims.get("qsh")
    if not isinstance(qsh, str) or qsh == "context-qsh":
        raise SignatureMismatch("Connect JWT has no request-bound qsh claim", scheme="atlassian-qsh")
    require_any(query_hashes(request.method, request.url), [qsh], scheme="atlassian-qsh")


def verify(request: Request) -> None:
    auth = request.header("authorization") or ""
    if auth[:4].lower() == "jwt ":
        _verify_connect(request, auth[4:].strip())
        return
    sig = request.header("x-hub-signature")
    if not sig:
        raise MissingHeader(
            "x-hub-signature or Authorization: JWT is required",
            header="x-hub-signature",
            headers_seen=sorted(request.headers),
        )
    secrets = request.require_secrets()
    require_any(("sha256=" + hmac_hex(s.encode(), request.body) for s in secrets), [sig.strip()], scheme="jira-hub")


def _site(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    links = [dig(data, "self"), *(dig(value, "self") for value in data.values())]
    for link in links:
        try:
            parts = urlsplit(link)
        except ValueError:
            continue
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return ""


def _issuer(request: Request) -> str:
    auth = request.header("authorization") or ""
    if auth[:4].lower() != "jwt ":
        return ""
    try:
        _, claims = unverified_jwt(auth[4:].strip())  # extract runs on an already-verified request
    except MalformedHeader:
        return ""
    return dig(claims, "iss")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    tenant = first(_issuer(request), dig(data, "baseUrl"), _site(data))
    event_type = first(dig(data, "webhookEvent"), dig(data, "eventType"))
    return [EventInfo(tenant, event_type, request.header("x-atlassian-webhook-identifier") or "")]


def sign(s: SignInput) -> Signed:
    """An admin webhook's ``X-Hub-Signature``, or with ``scheme="connect"`` a Connect app's JWT for this
    method and URL (``iss`` from an ``iss=<clientKey>`` entry after the shared secret)."""
    if s.scheme in ("", "admin"):
        return s.signed({"x-hub-signature": "sha256=" + hmac_hex(s.secret.encode(), s.body)})
    if s.scheme != "connect":
        raise NotSignable("Jira schemes are admin and connect")
    issuer = next((e[4:] for e in s.secrets[1:] if e.startswith("iss=")), "hookrouter")
    hashes = query_hashes(s.method, s.require_url())
    claims = {"iss": issuer, "iat": int(s.now), "exp": int(s.now) + 180, "qsh": hashes[0]}
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = header + "." + _b64url(json.dumps(claims).encode())
    token = signing_input + "." + _b64url(hmac_digest(s.secret.encode(), signing_input.encode()))
    return s.signed({"authorization": "JWT " + token})


PROVIDER = register(Provider("jira", verify, extract=extract, sign=sign))
