"""Signing a request as a provider would: test events, ``hookrouter send``, benches and examples.

Each provider module holds its own signer beside its verifier (one place knows the scheme); this module
is the public door to them. Pure, like verification: no I/O, the clock only when ``now`` is not given.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from verifiers._core import NotSignable, Signed, SignInput, lookup, lowercase, names


def sign_request(
    provider: str,
    *,
    secrets: Sequence[str],
    body: bytes,
    url: str = "",
    method: str = "POST",
    now: float | None = None,
    headers: Mapping[str, str] | None = None,
    scheme: str = "",
) -> Signed:
    """The request ``provider`` would send for ``body``: the headers (``headers`` plus the signature's),
    and the body and URL, which only schemes carrying the signature in them change.

    ``secrets[0]`` signs (Box: ``[primary, secondary]``). Public-key schemes take the private key here,
    as PEM (Discord also takes 64 hex characters); JWT schemes take what the provider signs with.
    Raises ``NotSignable`` when that is not possible, ``UnknownProvider`` for an unknown name.
    """
    spec = lookup(provider)
    if spec.sign is None:
        raise NotSignable(f"{provider} cannot be signed with a shared secret")
    usable = tuple(s for s in secrets if s)
    if not usable:
        raise NotSignable("no secret to sign with")
    given = lowercase(headers or {})
    request = SignInput(
        name=provider,
        secrets=usable,
        body=bytes(body),
        url=url,
        method=method.upper(),
        now=time.time() if now is None else now,
        headers=given,
        scheme=scheme,
    )
    signed = spec.sign(request)
    merged = {k: v for k, v in (headers or {}).items() if str(k).lower() not in signed.headers}
    return Signed({**merged, **signed.headers}, signed.body, signed.url)


def sign(
    provider: str,
    *,
    secrets: Sequence[str],
    body: bytes,
    url: str = "",
    method: str = "POST",
    now: float | None = None,
    headers: Mapping[str, str] | None = None,
    scheme: str = "",
) -> dict[str, str]:
    """The headers to send with ``body`` so that ``verifiers.verify(provider, ...)`` accepts it.

    For schemes whose signature travels in the body or the URL (Lever, Microsoft Graph's clientState,
    Mailchimp's URL secret, Twilio's JSON ``bodySHA256``) use ``sign_request``: this raises
    ``NotSignable`` there rather than return headers that would not verify.
    """
    signed = sign_request(
        provider, secrets=secrets, body=body, url=url, method=method, now=now, headers=headers, scheme=scheme
    )
    if signed.body != bytes(body) or signed.url != url:
        raise NotSignable(f"{provider} carries its signature in the body or URL: use sign_request")
    return signed.headers


def signable() -> list[str]:
    """Every provider name (aliases included) that ``sign_request`` can sign."""
    return [name for name in names() if lookup(name).sign is not None]
