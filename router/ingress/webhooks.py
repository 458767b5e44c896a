"""The webhook receiver: body → handshake → verify → extract → append → 2xx.

Status codes: 401 (verification failed; the body carries only the reason code), 404 (unknown integration
or credential), 405 (a method the provider's handshake does not use), decided here; 413 (body over the
limit) and 503 (event store unreachable, so the provider retries) are the ``RouterError`` this module
raises, answered by ``create_app``'s one handler. A 2xx is sent only after every entry's XADD has returned.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

import verifiers
from router import metrics
from router.admin.params import decimal
from router.errors import RouterError, StoreUnavailable
from router.ingress import headers as stored_headers
from router.ingress.observe import count_stored, observed, on_access_line, tag_integration
from router.ingress.public_url import signed_url
from router.runtime.state import State, app_state
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from router.storage.store import Append, Once
from subscriptions.models import Integration

logger = logging.getLogger(__name__)


class BodyTooLarge(RouterError):
    reason = "body_too_large"
    status = 413

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(f"body over {limit_bytes} bytes")
        self.limit_bytes = limit_bytes

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        return {"error": self.reason, "limit_bytes": self.limit_bytes}, None


def error(status: int, code: str, *, headers: Mapping[str, str] | None = None, **extra: object) -> JSONResponse:
    return JSONResponse({"error": code, **extra}, status_code=status, headers=headers)


async def read_body(request: Request, limit: int, headers: Mapping[str, str] | None = None) -> bytes:
    """The whole body, up to ``limit`` bytes. BodyTooLarge (→ 413) past it; a client gone mid-body raises
    Starlette's ClientDisconnect (→ 400); create_app answers both. ``headers``: the request's, if already decoded
    (``stored_headers.of_request``)."""
    declared = decimal((request.headers if headers is None else headers).get("content-length", ""))
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def with_diagnostics(
    rejected: Response,
    state: State,
    source: str,
    scheme: str,
    exc: verifiers.VerificationError,
    request: Request,
    project: str = "",
) -> Response:
    """``rejected``, recording the failure's diagnostics (and counting it for ``project``) once it has been sent: a
    slow or frozen Redis must not hold the answer to a request that failed verification."""
    headers = list(request.headers.keys())
    rejected.background = BackgroundTask(state["diagnostics"].failed, source, scheme, exc, headers, project=project)
    return rejected


def client_address(request: Request) -> str:
    """Who sent a request, as the server saw it (proxy headers count only from trusted proxies)."""
    return request.client.host if request.client is not None else ""


async def persist_handshake(
    state: State,
    record_id: str,
    values: Mapping[str, str],
    *,
    owner: str,
    credential: str,
    source: str,
) -> None:
    """Keep what a handshake (or a custom webhook's setup request) handed over for the operator; let a secret
    sign events only when the router itself asked for it.

    Handshakes are unauthenticated by design: anyone who knows the URL can send one. So a ``secret`` (Asana's
    X-Hook-Secret, a custom setup secret) is never written over or beside a record's secrets here; it becomes
    the secret of one provider subscription only while the lifecycle code is creating that subscription for
    ``credential`` (``subscriptions.handshakes``), once. Every value is also captured, sealed, for the operator,
    who can activate it through the admin API (Notion's verification token waits there).
    """
    for purpose, value in values.items():
        activated = purpose == "secret" and await state["handshakes"].offer(owner, credential, value)
        kept = await state["diagnostics"].captured(record_id, purpose, value, activated=activated, source=source)
        logger.info(
            "captured a handshake value",
            extra={"id": record_id, "purpose": purpose, "activated": activated, "kept": kept, "source": source},
        )


# Registered at import (verifiers/_catalog.py): the types whose webhooks the router can verify.
_WEBHOOK_TYPES = frozenset(verifiers.providers())


async def receive(request: Request) -> Response:
    state = app_state(request)
    snapshot = state["cache"].current
    integration = snapshot.integrations.get(request.path_params["integration_id"])
    if integration is None or integration.type != request.path_params["integration"]:
        # A wrong URL pasted into a provider's console: say which, so the operator finds it in the logs.
        logger.info(
            "webhook for an unknown integration",
            extra={
                "integration_type": request.path_params["integration"][:64],
                "id": request.path_params["integration_id"][:128],
            },
        )
        return error(404, "unknown_integration")
    if integration.type not in _WEBHOOK_TYPES:
        return error(404, "no_webhooks")  # a polled, API-only or custom integration: nothing verifies a webhook of it
    tag_integration(request, integration.id)
    # Most provider URLs have no query string: skip building the parser for them.
    credential_id = request.query_params.get("id") if request.scope["query_string"] else None
    if credential_id is not None:
        credential = snapshot.credentials.get(credential_id)
        if credential is None or credential.integration != integration.id:
            return error(404, "unknown_credential")
    headers = stored_headers.of_request(request.scope["headers"])
    body = await read_body(request, state["settings"].max_body_bytes, headers)
    return await _verified(request, state, integration, credential_id or "", body, headers)


async def _verified(
    request: Request, state: State, integration: Integration, credential_id: str, body: bytes, headers: dict[str, str]
) -> Response:
    kind = integration.type
    secrets = [s.get_secret_value() for s in integration.secrets]
    if credential_id:
        # A user-level URL: the provider subscription created for that credential (Graph's clientState, a
        # secret ClickUp returned) vouches for its events; other users' subscription secrets do not.
        secrets += await state["subscription_secrets"].secrets_for(integration.id, credential_id)
    # A scheme whose key is in a certificate named by URL (PayPal): fetched here, checked by the verifier.
    secrets += await state["certificates"].secrets_for(kind, headers)
    inbound = verifiers.Inbound(
        kind,
        secrets=secrets,
        headers=headers,
        body=body,
        method=request.method,
        url=signed_url(request, integration.public_url or state["settings"].public_url),
    )
    try:
        reply = inbound.handshake()
        if reply is not None:
            if reply.persist:
                await persist_handshake(
                    state,
                    integration.id,
                    reply.persist,
                    owner=integration.id,
                    credential=credential_id,
                    source=client_address(request),
                )
            logger.info("answered handshake", extra={"integration": integration.id, "status": reply.status})
            return Response(reply.body, reply.status, headers=dict(reply.headers))
        if request.method != "POST":
            return error(405, "method_not_allowed")
        inbound.verify()
    except verifiers.VerificationError as exc:
        logger.info("rejected webhook", extra={"integration": integration.id, "provider": kind, "reason": exc.reason})
        metrics.VERIFICATION_FAILURES.labels(integration.id, exc.reason).inc()
        rejected = Response(status_code=401) if inbound.empty_responses else error(401, exc.reason)
        return with_diagnostics(rejected, state, integration.id, kind, exc, request, integration.project)
    stored = await _store(request, state, integration, credential_id, body, headers, inbound.extract())
    if inbound.empty_responses and stored.status_code == 200:
        return Response(status_code=200)
    return stored


async def _store(
    request: Request,
    state: State,
    integration: Integration,
    credential_id: str,
    body: bytes,
    headers: dict[str, str],
    events: list[verifiers.EventInfo],
) -> Response:
    kept = stored_headers.stored(headers)
    received_at = str(int(time.time() * 1000))
    context = observed(request)
    appends = []
    for event in events:
        stored = IngestEvent(
            source="webhook",
            project=integration.project,
            integration=integration.id,
            integration_type=integration.type,
            provider_id=event.provider_id,
            credential=credential_id,
            event_type=event.event_type,
            delivery_id=event.delivery_id,
            received_at=received_at,
            headers=kept,
            body=body if event.body is None else event.body,
            request_id=context.request_id,
            traceparent=context.traceparent,
        )
        keys = state["keys"].of_event(*stored.tenant)
        once = _once(state, keys, integration, event.delivery_id, stored.provider_id)
        appends.append(state["store"].add(Append(keys.ingest, stored.to_fields(), once)))
    try:
        # One event is the common case: await it directly rather than through gather's extra task.
        results = [await appends[0]] if len(appends) == 1 else await asyncio.gather(*appends)
    except StoreUnavailable:
        logger.warning("event store unavailable; asked the provider to retry", extra={"integration": integration.id})
        raise
    duplicates = sum(r.duplicate for r in results)
    count_stored(integration.id, len(results) - duplicates, duplicates)
    ids = [r.id for r in results]
    # The stored ids go on the request's access line; on a line of their own only when that line is off.
    if not on_access_line(request, ids=ids, duplicates=duplicates) and logger.isEnabledFor(logging.INFO):
        logger.info("accepted webhook", extra={"integration": integration.id, "ids": ids, "duplicates": duplicates})
    if duplicates:
        # 2xx so the provider stops retrying; the first delivery's id says where the event already is.
        logger.info("duplicate delivery", extra={"integration": integration.id, "count": duplicates})
        return JSONResponse({"ids": ids, "duplicates": duplicates}, status_code=200)
    # JSONResponse's rendering, written out: stream entry ids are digits and one "-", nothing to escape.
    return Accepted(('{"ids":["' + '","'.join(ids) + '"]}').encode())


class Accepted(Response):
    """200 with a JSON body, sent as it is built: Starlette's ``Response`` renders, checks and assembles its headers
    on every answer, about as much CPU as building the stored entry. What it sends is the same."""

    def __init__(self, body: bytes) -> None:  # (Response's own is not called: it would build them again)
        self.status_code = 200
        self.body = body
        self.background = None
        self.raw_headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})


def _once(state: State, keys: Keys, integration: Integration, delivery_id: str, provider_id: str) -> Once | None:
    """Deduplication of a provider delivery id, if the provider sent one and the window is not 0; also against
    the tenant's shard before a change of N, while it is drained."""
    settings = state["settings"]
    window = settings.dedup_windows.get(integration.type, settings.dedup_window_s)
    if not delivery_id or window <= 0:
        return None
    seen = keys.seen(integration.project, integration.id, delivery_id)
    old = keys.before_change(integration.id, provider_id)
    drained = (old.seen(integration.project, integration.id, delivery_id), old.index) if old else None
    return Once(seen, window, keys.duplicates, integration.id, keys.seen_before(integration.id, delivery_id), drained)
