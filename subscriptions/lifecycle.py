"""The lifecycle of provider-side webhook subscriptions: a reconciler.

DESIRED is every (credential, spec key) where the credential is usable (VALID, user known and not disabled,
integration known and enabled) and its user has at least one deployed, activated workflow whose trigger
needs that spec. ACTUAL is what Redis holds (``lifecycle_state``). Each ``reconcile_once()`` creates what is
missing, renews what is about to lapse, and deletes what nobody wants any more, through the injected
``httpx.AsyncClient``. Any number of workers may run it: a provider call for one subscription happens only
under that subscription's Redis claim (SET NX PX), and the state is re-read once the claim is held.

Provider errors: transport errors, 408, 429 and 5xx are retried with exponential backoff and jitter
(honouring Retry-After) via ``next_attempt_at``; any other 4xx marks the subscription failed with its status
and is not retried before ``retry_failed_after_s``. Nothing is retried in a hot loop.

A 401 to a create, renew or delete for a wanted credential that holds a ``refresh_token`` refreshes its access
token through the injected ``refresh`` (the pollers' refresher: one worker at a time, stored sealed, a refusal
for good marks the credential INVALID) and makes the call once more with the new token. A refresh that failed
for now (token endpoint down, 429) is a retryable failure of the call; one refused for good, a failed call.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx
from redis.asyncio import Redis
from redis.exceptions import LockError

from subscriptions.crypto import SecretBox
from subscriptions.errors import SubscriptionError
from subscriptions.handshakes import HandshakeExpectations
from subscriptions.keys import LifecycleKeys
from subscriptions.lifecycle_state import StateStore, SubscriptionState, member_of
from subscriptions.models import Credential, Integration, Workflow
from subscriptions.oauth import can_refresh
from subscriptions.providers import API_BASES, builtin_spec
from subscriptions.providers.spec import (
    RequestTemplate,
    SubscriptionSpec,
    TemplateError,
    iso,
    parse_expiry,
    read_path,
    render,
    render_text,
)
from subscriptions.snapshot import Snapshot

logger = logging.getLogger(__name__)

SpecSource = Callable[[Snapshot, Integration, Workflow], SubscriptionSpec | None]
"""Which subscription (if any) a workflow's trigger needs. Custom webhook definitions plug in here."""


def _builtin(snapshot: Snapshot, integration: Integration, workflow: Workflow) -> SubscriptionSpec | None:
    return builtin_spec(integration, workflow)


DEFAULT_SOURCES: tuple[SpecSource, ...] = (_builtin,)


class SubscriptionKey(NamedTuple):
    credential: str
    spec: str

    @property
    def member(self) -> str:
        return member_of(self.credential, self.spec)


@dataclass(frozen=True)
class Desired:
    """``owner`` files the subscription's secret (``StateStore.secrets_for``) under something other than the
    integration id; ``context`` adds placeholders (``{{resource.base_url}}``) to the rendering context."""

    credential: Credential
    integration: Integration
    spec: SubscriptionSpec
    owner: str = ""
    context: Mapping[str, str] = field(default_factory=dict)


HolderSource = Callable[[Snapshot], Iterable[Desired]]
"""Subscriptions held by something other than a registry credential (an API resource connection, presented
as a credential): every one it yields is desired, so it applies the usability and activation rules itself."""


def usable(snapshot: Snapshot, credential: Credential) -> Integration | None:
    """The credential's integration when the credential may hold subscriptions, else None."""
    user = snapshot.users.get(credential.user)
    integration = snapshot.integrations.get(credential.integration)
    if credential.status != "VALID" or user is None or user.disabled or integration is None:
        return None
    return integration if integration.enabled else None


def desired_subscriptions(
    snapshot: Snapshot, sources: Sequence[SpecSource] = DEFAULT_SOURCES, holders: Sequence[HolderSource] = ()
) -> dict[SubscriptionKey, Desired]:
    out: dict[SubscriptionKey, Desired] = {}
    for holder in holders:
        for want in holder(snapshot):
            out.setdefault(SubscriptionKey(want.credential.id, want.spec.key), want)
    for cred in snapshot.credentials.values():
        integration = usable(snapshot, cred)
        if integration is None:
            continue
        for wf in snapshot.by_integration.get(integration.id, []):
            if not wf.deployed or not snapshot.is_activated(wf.id, cred.user, cred):
                continue
            for source in sources:
                spec = source(snapshot, integration, wf)
                if spec is not None:
                    out.setdefault(SubscriptionKey(cred.id, spec.key), Desired(cred, integration, spec))
    return out


@dataclass(frozen=True)
class LifecycleConfig:
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 3600.0
    lock_s: float = 60.0  # longer than one provider call can take (the client's timeout)
    retry_failed_after_s: float = 86400.0
    api_bases: Mapping[str, str] = field(default_factory=lambda: dict(API_BASES))


class RefreshFailed(SubscriptionError):
    """A token refresh that did not give a new access token: ``retryable`` when it may work later."""

    reason = "token_refresh_failed"

    def __init__(self, error: str, *, retryable: bool, retry_after: float = 0.0) -> None:
        super().__init__(error)
        self.error, self.retryable, self.retry_after = error, retryable, retry_after


Refresh = Callable[[Integration, Credential], Awaitable[Credential]]
"""The credential with a fresh access token, or RefreshFailed (``router.polling.tokens.for_lifecycle``)."""


class _Failed(SubscriptionError):
    reason = "provider_call_failed"

    def __init__(self, error: str, *, status: int = 0, retryable: bool, retry_after: float = 0.0) -> None:
        super().__init__(error)
        self.error, self.status, self.retryable, self.retry_after = error, status, retryable, retry_after


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isascii() and value.isdigit() else 0.0


def renew_at(state: SubscriptionState, spec: SubscriptionSpec) -> float:
    """Renew once less than a third of the lifetime, or the spec's margin, is left: whichever comes first."""
    lifetime = max(state.expires_at - state.issued_at, 0.0)
    return state.expires_at - max(spec.renew_margin_s, lifetime / 3)


class Lifecycle:
    def __init__(
        self,
        snapshots: Callable[[], Awaitable[Snapshot]],
        redis: Redis,
        box: SecretBox,
        http: httpx.AsyncClient,
        webhook_base_url: str,
        *,
        keys: LifecycleKeys | None = None,
        sources: Sequence[SpecSource] = DEFAULT_SOURCES,
        holders: Sequence[HolderSource] = (),
        config: LifecycleConfig | None = None,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        refresh: Refresh | None = None,
    ) -> None:
        self._snapshots = snapshots
        self._refresh = refresh
        self._redis = redis
        self._keys = keys or LifecycleKeys()
        self._store = StateStore(redis, box, self._keys)
        self._handshakes = HandshakeExpectations(redis, box, self._keys)
        self._http = http
        self._base = webhook_base_url.rstrip("/")
        self._sources = tuple(sources)
        self._holders = tuple(holders)
        self._config = config or LifecycleConfig()
        self._clock = clock
        self._jitter = jitter

    @property
    def store(self) -> StateStore:
        return self._store

    async def secrets_for(self, integration_id: str, credential_id: str | None = None) -> list[str]:
        return await self._store.secrets_for(integration_id, credential_id)

    async def reconcile_once(self) -> Counter[str]:
        """One pass over DESIRED ∪ ACTUAL; returns what it did ({"created": 1, "retry": 2, ...})."""
        wanted = desired_subscriptions(await self._snapshots(), self._sources, self._holders)
        desired = {k.member: d for k, d in wanted.items()}
        done: Counter[str] = Counter()
        for member in sorted(set(desired) | await self._store.members()):
            want = desired.get(member)
            state = await self._store.load(member)
            if self._plan(state, want) == "none":
                continue  # the common case costs one HGETALL and no claim
            lock = self._redis.lock(self._keys.lock(member), timeout=self._config.lock_s, blocking=False)
            if not await lock.acquire():
                continue  # another worker is on it
            try:
                state = await self._store.load(member)  # it may have finished just before we got the claim
                done[await self._act(self._plan(state, want), state, want)] += 1
            finally:
                try:
                    await lock.release()
                except LockError:
                    logger.warning("subscription claim expired during a provider call", extra={"member": member})
        done.pop("none", None)
        return done

    def _plan(self, state: SubscriptionState | None, want: Desired | None) -> str:
        now = self._clock()
        if state is None:
            return "none" if want is None else "create"
        lapsed = state.expires_at and now >= state.expires_at
        if want is None:
            if not state.provider_id or lapsed:
                return "forget"  # nothing left at the provider to delete
            return "delete" if now >= state.next_attempt_at else "none"
        if now < state.next_attempt_at:
            return "none"
        if state.status == "pending":
            return "create"
        if state.status == "failed":
            return "create" if now >= state.failed_at + self._config.retry_failed_after_s else "none"
        if lapsed:
            return "recreate"
        if state.expires_at and now >= renew_at(state, want.spec):
            return "renew"
        return "none"

    async def _act(self, plan: str, state: SubscriptionState | None, want: Desired | None) -> str:
        if plan == "none":
            return "none"
        if plan in ("forget", "recreate") and state is not None:
            await self._store.drop(state)
            if plan == "forget" or want is None:
                return "forgot"
            state = None
        if plan in ("create", "recreate") and want is not None:
            return await self._create(want, state)
        if plan == "renew" and state is not None and want is not None:
            return await self._renew(want, state)
        if plan == "delete" and state is not None:
            return await self._delete(state, want)
        return "none"

    # -- provider calls ----------------------------------------------------------------------

    def _context(self, want: Desired) -> dict[str, str]:
        cred, integration, spec = want.credential, want.integration, want.spec
        # An integration's own api_base_url (a national cloud, a test server) stands for every API it calls.
        base = integration.options.api_base_url
        ctx = {f"api.{k}": (base or v).rstrip("/") for k, v in self._config.api_bases.items()} | dict(want.context)
        ctx |= {f"credential.{k}": v.get_secret_value() for k, v in cred.values.items()}
        ctx |= {
            "credential.id": cred.id,
            "credential.providerId": cred.provider_id or "",
            "integration.id": integration.id,
            "integration.type": integration.type,
            "user.id": cred.user,
            "trigger.key": spec.key,
        }
        try:
            ctx["settings.webhookURL"] = self._base + render_text(spec.webhook_path, ctx, url=True)
            ctx |= {f"trigger.{k}": render_text(v, ctx) for k, v in spec.params.items()}
        except TemplateError as exc:
            # A credential without a value its subscription names (SharePoint's site_id): this subscription
            # fails and says why; the pass goes on with every other one.
            raise _Failed(f"template: {exc}", retryable=False) from None
        return ctx

    async def _call(self, template: RequestTemplate, ctx: Mapping[str, str]) -> tuple[httpx.Response, object]:
        try:
            method, url, headers, body = render(template, ctx)
            response = await self._http.request(method, url, headers=headers, content=body)
        except TemplateError as exc:
            raise _Failed(f"template: {exc}", retryable=False) from None
        except httpx.InvalidURL:
            raise _Failed("invalid_url", retryable=False) from None
        except httpx.HTTPError as exc:
            # The router's egress guard marks a refused address `retryable = False` (with its `reason`): a
            # policy does not change by waiting, so the call fails for good rather than backing off forever.
            if getattr(exc, "retryable", True) is False:
                raise _Failed(str(getattr(exc, "reason", "refused")), retryable=False) from None
            raise _Failed(f"transport: {type(exc).__name__}", retryable=True) from None
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise _Failed(f"http_{status}", status=status, retryable=True, retry_after=_retry_after(response))
        if status >= 400:
            raise _Failed(f"http_{status}", status=status, retryable=False)
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        return response, data

    async def _authorized(
        self, template: RequestTemplate, ctx: dict[str, str], want: Desired | None
    ) -> tuple[httpx.Response, object]:
        """``_call``; on a 401, once more with a refreshed access token (``ctx`` takes the new values)."""
        try:
            return await self._call(template, ctx)
        except _Failed as exc:
            if exc.status != 401 or want is None or self._refresh is None or not can_refresh(want.credential):
                raise
        try:
            fresh = await self._refresh(want.integration, want.credential)
        except RefreshFailed as exc:
            raise _Failed(
                f"token_refresh: {exc.error}", status=401, retryable=exc.retryable, retry_after=exc.retry_after
            ) from None
        ctx.update({f"credential.{k}": v.get_secret_value() for k, v in fresh.values.items()})
        logger.info("access token refreshed for a subscription call", extra={"credential_id": fresh.id})
        return await self._call(template, ctx)

    def _failed(self, state: SubscriptionState, op: str, exc: _Failed) -> str:
        now = self._clock()
        state.op, state.error, state.http_status = op, exc.error, exc.status
        if exc.retryable:
            state.attempts += 1
            delay = min(self._config.backoff_cap_s, self._config.backoff_base_s * 2 ** (state.attempts - 1))
            delay = delay / 2 + self._jitter() * delay / 2  # "equal jitter": spread workers, keep a floor
            state.next_attempt_at = now + max(delay, exc.retry_after)
            outcome = "retry"
        elif op == "delete":
            # The subscription is still there as far as we know: keep it, try again much later.
            state.failed_at, state.next_attempt_at = now, now + self._config.retry_failed_after_s
            outcome = "failed"
        else:
            state.status, state.failed_at = "failed", now
            outcome = "failed"
        logger.warning(
            "provider subscription call failed",
            extra={"member": state.member, "op": op, "error": exc.error, "retryable": exc.retryable},
        )
        return outcome

    async def _create(self, want: Desired, previous: SubscriptionState | None) -> str:
        now, spec = self._clock(), want.spec
        state = SubscriptionState(want.credential.id, want.owner or want.integration.id, spec.key, spec=spec)
        if previous is not None and previous.status == "pending":
            state.attempts = previous.attempts
        try:
            ctx = self._context(want)
        except _Failed as exc:
            outcome = self._failed(state, "create", exc)
            await self._store.save(state)
            return outcome
        if spec.client_state:
            ctx["subscription.clientState"] = secrets.token_urlsafe(32)  # Graph allows up to 128 characters
        if spec.lifetime_s:
            ctx["subscription.expirationDateTime"] = iso(now + spec.lifetime_s)
        state.context = ctx
        # A provider may send its handshake (Asana's X-Hook-Secret) to the URL before the create call returns:
        # only while this expectation is open may the receiver take its secret, and for this subscription only.
        await self._handshakes.expect(state.integration, state.credential, self._config.lock_s)
        try:
            response, data = await self._authorized(spec.create, ctx, want)
            provider_id = read_path(data, response.headers, spec.id_path)
            if not provider_id:
                raise _Failed("response_without_id", status=response.status_code, retryable=False)
        except _Failed as exc:
            await self._handshakes.take(state.integration, state.credential)
            outcome = self._failed(state, "create", exc)
            await self._store.save(state)
            return outcome
        handed = await self._handshakes.take(state.integration, state.credential)
        state.status, state.op, state.provider_id, state.issued_at = "active", "create", provider_id, now
        state.secret = ctx.get("subscription.clientState", "") or handed
        if spec.secret_path:
            state.secret = read_path(data, response.headers, spec.secret_path) or state.secret
        state.expires_at = self._expiry(spec, data, response, now)
        await self._store.save(state)
        logger.info("provider subscription created", extra={"member": state.member})
        return "created"

    def _expiry(self, spec: SubscriptionSpec, data: object, response: httpx.Response, now: float) -> float:
        raw = read_path(data, response.headers, spec.expiry_path) if spec.expiry_path else None
        parsed = parse_expiry(raw) if raw else None
        return parsed or (now + spec.lifetime_s if spec.lifetime_s else 0.0)

    def _live_context(self, state: SubscriptionState, want: Desired | None) -> dict[str, str]:
        # Current credential values when the credential is still wanted (tokens get refreshed); the sealed
        # context from creation otherwise (the credential may be gone from the registry).
        ctx = dict(state.context) if want is None else {**state.context, **self._context(want)}
        ctx["subscription.id"] = state.provider_id
        if state.secret:
            ctx["subscription.clientState"] = state.secret
        return ctx

    async def _renew(self, want: Desired, state: SubscriptionState) -> str:
        now, spec = self._clock(), want.spec
        if spec.renew is None or not spec.lifetime_s:
            return await self._create(want, None)  # nothing to extend it with: replace it
        try:
            ctx = self._live_context(state, want)
            ctx["subscription.expirationDateTime"] = iso(now + spec.lifetime_s)
            response, data = await self._authorized(spec.renew, ctx, want)
        except _Failed as exc:
            if exc.status in (404, 410):  # the provider already dropped it: make a new one
                await self._store.drop(state)
                return await self._create(want, None)
            outcome = self._failed(state, "renew", exc)
            await self._store.save(state)
            return outcome
        state.issued_at, state.expires_at = now, self._expiry(spec, data, response, now)
        state.op, state.error, state.http_status, state.attempts, state.next_attempt_at = "renew", "", 0, 0, 0.0
        await self._store.save(state)
        return "renewed"

    async def _delete(self, state: SubscriptionState, want: Desired | None) -> str:
        spec = state.spec
        if spec is None or spec.delete is None:
            await self._store.drop(state)
            return "forgot"
        try:
            await self._authorized(spec.delete, self._live_context(state, want), want)
        except _Failed as exc:
            if exc.status not in (404, 410):  # already gone counts as deleted
                outcome = self._failed(state, "delete", exc)
                await self._store.save(state)
                return outcome
        await self._store.drop(state)
        logger.info("provider subscription deleted", extra={"member": state.member})
        return "deleted"
