"""Refreshing a polled credential's OAuth access token: before it expires, or when the provider answers 401.

One worker refreshes a credential at a time (a lease beside the polls'); under it the credential is read again from
the registry, so a worker that lost the race uses the token the winner stored rather than spending the refresh
token twice (providers that rotate refresh tokens would refuse the second use). New tokens are stored sealed in the
credential's values (``registry.put``). A refusal for good (the token endpoint answers 400 or 401) marks the
credential INVALID and emits one ``credentials_failure`` (§3.8 shape), once across every worker, through the same
transition record the admin API's invalidation uses (``router.notifications.producers.Transitions``).

A token endpoint that is slow, down, 429 or 5xx is a retryable poll failure: the pair backs off and tries again.
Provider-side subscription calls (``subscriptions.lifecycle``) refresh through the same refresher
(``for_lifecycle``), so a poll and a Graph renewal of one credential never spend its refresh token twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from router.notifications.events import Notifier
from router.notifications.producers import Fact, Transitions, notify_claimed
from router.polling.fetch import PollFailed, retry_after_s
from router.polling.state import PollStates
from subscriptions.lifecycle import Refresh, RefreshFailed
from subscriptions.models import Credential, Integration
from subscriptions.oauth import refresh_request, refreshed_values, refusal
from subscriptions.registry import Registry
from subscriptions.snapshot import SnapshotCache

logger = logging.getLogger(__name__)

LEASE_S = 30.0


class TokenRefresher:
    def __init__(
        self,
        registry: Registry,
        cache: SnapshotCache,
        states: PollStates,
        transitions: Transitions,
        notifier: Notifier,
        http: httpx.AsyncClient,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._registry = registry
        self._cache = cache
        self._states = states
        self._transitions = transitions
        self._notifier = notifier
        self._http = http
        self._clock = clock

    async def refresh(self, integration: Integration, stale: Credential) -> Credential:
        """The credential with a fresh access token; raises PollFailed (refused for good: not retryable)."""
        lease = f"{stale.id}|@token"  # spec keys never start with "@": no poll pair has this name
        token = await self._states.lease(lease, LEASE_S)
        if token is None:
            raise PollFailed("token_refresh_in_progress", retryable=True)
        try:
            current = await self._registry.get("credential", stale.id)
            if not isinstance(current, Credential) or current.status != "VALID":
                raise PollFailed("credential_invalid", retryable=False)
            if current.values.get("access_token") != stale.values.get("access_token"):
                return current  # another worker refreshed it meanwhile
            return await self._call(integration, current)
        finally:
            await self._states.release(lease, token)

    async def _call(self, integration: Integration, credential: Credential) -> Credential:
        request = refresh_request(integration, credential)
        if request is None:
            raise PollFailed("no_refresh", retryable=False)  # nothing to refresh with: the 401 stands
        try:
            response = await self._http.post(request.url, headers=request.headers, content=request.body)
        except httpx.HTTPError as exc:
            if getattr(exc, "retryable", True) is False:
                raise PollFailed("token_url_refused", retryable=False) from None
            raise PollFailed("token_transport", retryable=True) from None
        answer = _json(response)
        if response.status_code in (400, 401):
            await self._invalidate(credential, refusal(answer))
            raise PollFailed("refresh_refused", retryable=False)
        if response.status_code != 200:
            wait = retry_after_s(response.headers.get("retry-after", ""), self._clock())
            raise PollFailed(f"token_http_{response.status_code}", retryable=True, retry_after_s=wait)
        values = refreshed_values(credential, answer if isinstance(answer, dict) else {}, self._clock())
        if values is None:
            raise PollFailed("token_answer_without_token", retryable=True)
        fresh = credential.model_copy(update={"values": values})
        await self._registry.put(fresh)
        logger.info("access token refreshed", extra={"credential_id": credential.id})
        return fresh

    async def _invalidate(self, credential: Credential, reason: str) -> None:
        # As the admin API's invalidation: the reason first, then the VALID fact, then the change; whoever claims
        # the transition (this worker or a watch that saw the new snapshot sooner) notifies, once.
        version_before = await self._registry.version()
        await self._transitions.set_reason(credential.id, reason)
        await self._transitions.record([Fact(credential.id, "VALID", version_before)])
        await self._registry.put(credential.model_copy(update={"status": "INVALID"}))
        claims = await self._transitions.record([Fact(credential.id, "INVALID", await self._registry.version())])
        await notify_claimed(self._transitions, self._notifier, await self._cache.refresh(), claims)
        logger.warning("credential refresh refused; marked INVALID", extra={"credential_id": credential.id})


def for_lifecycle(refresher: TokenRefresher) -> Refresh:
    """The refresher as the subscription lifecycle calls it: its failures as ``RefreshFailed``."""

    async def refresh(integration: Integration, credential: Credential) -> Credential:
        try:
            return await refresher.refresh(integration, credential)
        except PollFailed as exc:
            raise RefreshFailed(exc.reason, retryable=exc.retryable, retry_after=exc.retry_after_s) from None

    return refresh


def _json(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None
