"""Certificates a provider's signature points at by URL (PayPal's ``PAYPAL-CERT-URL``), fetched for the verifier.

Verifiers do no I/O, so the receiver fetches the certificate and hands it over as a ``cert=<PEM>`` secret;
the verifier then checks the chain against the operator's trusted roots, so nothing fetched is trusted for
having been fetched. The URL comes from the request, so it is attacker-chosen: only https URLs on the
provider's own hosts are fetched, through the egress-guarded client (no private addresses, no redirects),
with a 5 s timeout and a 64 KiB cap. Answers are cached for an hour (failures for a minute, so a stream of
forged requests cannot turn the receiver into a fetch amplifier), at most ``MAX_ENTRIES`` URLs.

Faults: a slow, frozen or absent certificate host costs one request at most the timeout, then the request
is answered 401 ``missing_secret`` (PayPal retries); an operator who pinned ``cert=`` in the integration's
secrets is not affected, since a configured certificate comes first.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import httpx

logger = logging.getLogger(__name__)

# provider → (the header naming the certificate URL, the host suffixes it may point at)
SOURCES: dict[str, tuple[str, tuple[str, ...]]] = {"paypal": ("paypal-cert-url", (".paypal.com",))}
TIMEOUT_S = 5.0
MAX_BYTES = 64 * 1024
MAX_ENTRIES = 32
TTL_S = 3600.0
FAILURE_TTL_S = 60.0


def allowed(url: str, suffixes: tuple[str, ...]) -> bool:
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return False
    return parts.scheme == "https" and port in (None, 443) and host.endswith(suffixes) and not parts.username


class ProviderCertificates:
    def __init__(self, client: httpx.AsyncClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def secrets_for(self, provider: str, headers: Mapping[str, str]) -> list[str]:
        """``["cert=<PEM>"]`` when ``provider`` signs with a certificate named by URL and it could be fetched."""
        source = SOURCES.get(provider)
        if source is None:
            return []
        header, suffixes = source
        url = (headers.get(header) or "").strip()
        if not url or not allowed(url, suffixes):
            return []
        pem = await self.fetch(url)
        return ["cert=" + pem] if pem else []

    async def fetch(self, url: str) -> str:
        """The PEM text at ``url`` ("" when it could not be had), cached."""
        now = self._clock()
        cached = self._cache.get(url)
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(url)
            return cached[1]
        pem = await self._download(url)
        self._cache[url] = (now + (TTL_S if pem else FAILURE_TTL_S), pem)
        self._cache.move_to_end(url)
        while len(self._cache) > MAX_ENTRIES:
            self._cache.popitem(last=False)
        return pem

    async def _download(self, url: str) -> str:
        try:
            async with self._client.stream("GET", url, timeout=TIMEOUT_S) as response:
                if response.status_code != 200:
                    logger.info("certificate fetch refused", extra={"status": response.status_code})
                    return ""
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        logger.info("certificate over the size limit")
                        return ""
        except httpx.HTTPError as exc:
            logger.info("certificate fetch failed", extra={"error": type(exc).__name__})
            return ""
        text = body.decode("ascii", "replace")
        return text if "-----BEGIN CERTIFICATE-----" in text else ""
