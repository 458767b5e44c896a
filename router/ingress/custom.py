"""The custom webhook receiver: ``/webhook/triggers/custom/{definition_id}``.

body → setup handshake (answered with the definition's response; its ``persist`` values kept) → verify
→ parse the body → extract routing value, event type and delivery id with the definition's path expressions → append
(source ``custom``) → the definition's response. Status codes as in ``router.ingress.webhooks``, plus 400 when a
user-level URL lacks its ``?id=`` and 503 when an entry-point verifier cannot be loaded (an operator's
fix away, so the provider should retry).
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import verifiers
from router import metrics
from router.errors import RouterError, StoreUnavailable
from router.ingress import headers as stored_headers
from router.ingress.observe import count_stored, observed, tag_integration
from router.ingress.public_url import signed_url
from router.ingress.webhooks import (
    client_address,
    error,
    persist_handshake,
    read_body,
    with_diagnostics,
)
from router.runtime.state import State, app_state
from router.storage.entries import IngestEvent
from subscriptions import paths
from subscriptions.custom import TEMPLATE, CustomWebhook, ResponseSpec
from subscriptions.custom_lifecycle import secrets_owner
from subscriptions.snapshot import Snapshot
from verifiers.custom_spec import CustomVerifier, HmacSpec, load_entry_point, verify_spec

logger = logging.getLogger(__name__)

MAX_PERSISTED_CHARS = 4096  # a provider's secret or token; anything longer is not one


class VerifierUnavailable(RouterError):
    reason = "verifier_unavailable"


@functools.lru_cache(maxsize=1024)
def _path(text: str) -> paths.Path:
    # Definitions were validated when applied, so this parses; the cache makes it parse-once per process.
    return paths.parse(text)


@functools.lru_cache(maxsize=256)
def _spec(canonical: str) -> HmacSpec:
    return HmacSpec.parse(json.loads(canonical))


@functools.lru_cache(maxsize=64)
def _entry_point(reference: str) -> CustomVerifier:
    return load_entry_point(reference)  # a failure is not cached: the next request tries again


def parse_body(body: bytes, content_type: str) -> Any:
    """What ``$.body`` paths walk: parsed JSON, the fields of a form-encoded body, or None."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        pass
    if "application/x-www-form-urlencoded" in content_type.lower():
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return None


def _value(expression: str | None, context: Mapping[str, Any]) -> str:
    return (paths.evaluate_text(_path(expression), context) or "") if expression else ""


def _fill(template: str, context: Mapping[str, Any]) -> str:
    return TEMPLATE.sub(lambda m: paths.evaluate_text(_path(m.group(1)), context) or "", template)


def _header_safe(value: str) -> str:
    # A templated header value comes from the request: keep printable ASCII only, so it can neither split
    # the response's headers nor fail latin-1 encoding.
    return "".join(ch for ch in value if " " <= ch <= "~").strip()


# A configured body may repeat request values ({{$.query.shop}}): the sender picks part of what is answered, so
# a browser must never take it for a page. The Content-Type is the configured literal or plain text (a templated
# one would let the sender choose text/html), never sniffed, and the answer may not run anything.
PLAIN_TEXT = "text/plain; charset=utf-8"
LOCKED_DOWN = {"x-content-type-options": "nosniff", "content-security-policy": "default-src 'none'; sandbox"}


def render(spec: ResponseSpec, context: Mapping[str, Any], ids: list[str] | None) -> Response:
    headers = {
        name.lower(): _header_safe(_fill(value, context))
        for name, value in spec.headers.items()
        if name.lower() != "content-type" or "{{" not in value
    }
    headers = {name: value for name, value in headers.items() if value} | LOCKED_DOWN
    if spec.body is not None:
        headers.setdefault("content-type", PLAIN_TEXT)
        return Response(_fill(spec.body, context).encode(), spec.status, headers=headers)
    if ids is None:
        return Response(b"", spec.status, headers=headers)
    return JSONResponse({"ids": ids}, spec.status, headers=headers)


def is_setup(spec: ResponseSpec, context: Mapping[str, Any]) -> bool:
    if spec.setup_when is not None:
        found = paths.evaluate_text(_path(spec.setup_when), context)
        return found is not None and (spec.setup_equals is None or found == spec.setup_equals)
    return any(paths.evaluate_text(_path(p), context) is not None for p in spec.persist.values())


def _recipient_problem(snapshot: Snapshot, definition: CustomWebhook, recipient: str) -> tuple[int, str] | None:
    if definition.level == "app":
        return None
    if not recipient:
        return 400, "missing_id"
    if definition.integration is not None:
        cred = snapshot.credentials.get(recipient)
        return None if cred is not None and cred.integration == definition.integration else (404, "unknown_credential")
    conn = snapshot.resource_connections.get(recipient)
    return None if conn is not None and conn.api_resource == definition.api_resource else (404, "unknown_connection")


async def receive_custom(request: Request) -> Response:
    state = app_state(request)
    snapshot = state["cache"].current
    definition = snapshot.custom_webhooks.get(request.path_params["definition_id"])
    if definition is None:
        logger.info(
            "custom webhook for an unknown definition", extra={"id": request.path_params["definition_id"][:128]}
        )
        return error(404, "unknown_definition")
    tag_integration(request, definition.owner)
    recipient = request.query_params.get("id", "") if definition.level == "user" else ""
    problem = _recipient_problem(snapshot, definition, recipient)
    if problem is not None:
        return error(problem[0], problem[1])
    body = await read_body(request, state["settings"].max_body_bytes)
    return await _handle(request, state, snapshot, definition, recipient, body)


def request_context(request: Request, body: bytes | None) -> dict[str, Any]:
    """What path expressions walk; ``body=None`` leaves ``$.body`` paths unresolved."""
    parsed = None if body is None else parse_body(body, request.headers.get("content-type", ""))
    return {"body": parsed, "headers": request.headers, "query": request.query_params}


def setup_context(request: Request, body: bytes) -> dict[str, Any]:
    # Setup detection runs before verification: only a body small enough to be a handshake is parsed, so an
    # unsigned 10 MiB body costs no parsing (a provider's setup request is a few hundred bytes).
    return request_context(request, body if len(body) <= verifiers.HANDSHAKE_MAX_BYTES else None)


def _secrets(snapshot: Snapshot, definition: CustomWebhook) -> list[str]:
    secrets = definition.secrets
    if not secrets and definition.integration is not None and definition.verification.provider is not None:
        # A catalog scheme (Slack's, say) signs with the integration's signing secret unless the definition has its own.
        integration = snapshot.integrations.get(definition.integration)
        secrets = integration.secrets if integration is not None else []
    return [s.get_secret_value() for s in secrets]


def _verify(definition: CustomWebhook, secrets: list[str], request: Request, body: bytes, url: str) -> None:
    check = definition.verification
    kw: dict[str, Any] = {"secrets": secrets, "headers": request.headers, "body": body, "method": request.method}
    if check.provider is not None:
        verifiers.verify(check.provider, url=url, now=time.time(), **kw)
    elif check.hmac is not None:
        verify_spec(_spec(json.dumps(check.hmac, sort_keys=True)), url=url, now=time.time(), **kw)
    elif check.entry_point is not None:
        try:
            verifier = _entry_point(check.entry_point)
        except ValueError as exc:
            raise VerifierUnavailable from exc
        verifier(url=url, now=time.time(), **kw)


async def _handle(
    request: Request,
    state: State,
    snapshot: Snapshot,
    definition: CustomWebhook,
    recipient: str,
    body: bytes,
) -> Response:
    secrets = _secrets(snapshot, definition)
    if recipient:  # user level: the secret the provider returned for this recipient's subscription vouches too
        secrets += await state["subscription_secrets"].secrets_for(secrets_owner(definition.id), recipient)
    url = signed_url(request, state["settings"].public_url)
    provider = definition.verification.provider
    try:
        if provider is not None:
            reply = verifiers.handshake(
                provider, secrets=secrets, headers=request.headers, body=body, method=request.method, url=url
            )
            if reply is not None:
                owner, source = secrets_owner(definition.id), client_address(request)
                await persist_handshake(
                    state, definition.id, reply.persist, owner=owner, credential=recipient, source=source
                )
                return Response(reply.body, reply.status, headers=dict(reply.headers))
        setup = setup_context(request, body)
        if is_setup(definition.response, setup):
            values = {name: _value(p, setup)[:MAX_PERSISTED_CHARS] for name, p in definition.response.persist.items()}
            kept = {k: v for k, v in values.items() if v}
            owner, source = secrets_owner(definition.id), client_address(request)
            await persist_handshake(state, definition.id, kept, owner=owner, credential=recipient, source=source)
            return render(definition.response, setup, None)
        if request.method != "POST":
            return error(405, "method_not_allowed")
        _verify(definition, secrets, request, body, url)
    except verifiers.VerificationError as exc:
        scheme = provider or ("hmac" if definition.verification.hmac is not None else "entry_point")
        logger.info("rejected custom webhook", extra={"definition": definition.id, "reason": exc.reason})
        metrics.VERIFICATION_FAILURES.labels(definition.owner, exc.reason).inc()
        return with_diagnostics(error(401, exc.reason), state, definition.id, scheme, exc, request, definition.project)
    except VerifierUnavailable:
        logger.warning("custom verifier cannot be loaded", extra={"definition": definition.id})
        return error(503, "verifier_unavailable", headers={"retry-after": "30"})
    # Parsed only now that the body is verified: routing, event type and the response may read all of it.
    return await _store(request, state, snapshot, definition, recipient, body, request_context(request, body))


async def _store(
    request: Request,
    state: State,
    snapshot: Snapshot,
    definition: CustomWebhook,
    recipient: str,
    body: bytes,
    context: Mapping[str, Any],
) -> Response:
    integration = snapshot.integrations.get(definition.integration or "")
    context_of_request = observed(request)
    event = IngestEvent(
        source="custom",
        project=definition.project,
        integration=definition.owner,
        integration_type=integration.type if integration is not None else "api_resource",
        definition=definition.id,
        provider_id=_value(definition.routing, context),
        credential=recipient,
        event_type=_value(definition.event_type, context),
        delivery_id=_value(definition.delivery_id, context),
        received_at=str(int(time.time() * 1000)),
        headers=stored_headers.stored(request.headers),
        body=body,
        request_id=context_of_request.request_id,
        traceparent=context_of_request.traceparent,
    )
    try:
        entry_id = await state["store"].append(state["keys"].of_event(*event.tenant).ingest, event.to_fields())
    except StoreUnavailable:
        logger.warning("event store unavailable; asked the provider to retry", extra={"definition": definition.id})
        raise
    count_stored(definition.owner, 1, 0)
    logger.info("accepted custom webhook", extra={"definition": definition.id, "ids": [entry_id]})
    return render(definition.response, context, [entry_id])
