"""Admin API for event destinations and the notification stream.

Destinations are registry records (also managed by ``hookrouter apply``); their secrets (URL, header
values) are write-only here: responses show that they are set, never what they are.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import Path, Query
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import ErrorDetails, InitErrorDetails
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.params import U64, clamped_limit
from router.admin.problems import bad_parameter, problem, responses
from router.egress.checks import destination_refusals
from router.notifications.delivery import DisabledDestinations
from router.notifications.destinations import RenderError, validate
from router.notifications.events import workflow_failure
from router.notifications.fanout import event_of
from router.runtime.state import app_state
from router.storage.entries import MalformedEntry, Notification
from router.storage.stream_id import StreamId
from subscriptions.destinations import EVENT_TYPES, Destination, Template
from subscriptions.models import Id
from subscriptions.snapshot import Snapshot

# A body without a Content-Type is read as JSON, as these routes always read it.
router = admin_router(tags=["destinations"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: Id = Field(description="The project whose failure events it receives")
    name: str = ""
    event_types: list[str] = Field(
        default_factory=list, description=f"Only these events ({', '.join(EVENT_TYPES)}); empty: every event"
    )
    enabled: bool = True
    auto_disable_after: int | None = Field(
        default=None, ge=1, le=10_000, description="Consecutive failed deliveries that disable it (default: settings)"
    )


class WebhookBody(_Body):
    """An HTTP destination: your own ``payload`` template, or a vendor's shape."""

    type: Literal["webhook"] = "webhook"
    template: Template = Field(default="webhook", description="The request's shape")
    url: SecretStr | None = Field(
        default=None, description="Where it posts (a Slack incoming webhook, a Sentry DSN, ...); secret, never shown"
    )
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="Headers it sends; values never shown")
    payload: str | None = Field(default=None, description="`webhook` template: the body, a template over the event")
    options: dict[str, str] = Field(
        default_factory=dict, description="Template options: `site` (datadog), `region` (newrelic), `endpoint` (sentry)"
    )


class EmailBody(_Body):
    """Failure events by email, through the SMTP server in the settings."""

    type: Literal["email"]
    to: list[str] = Field(description="One or more email addresses")


def _kind(value: Any) -> str:
    # `type` may be left out: a destination is a webhook unless it says otherwise.
    found = value.get("type", "webhook") if isinstance(value, dict) else getattr(value, "type", "webhook")
    return found if isinstance(found, str) else ""


def _untagged(error: ErrorDetails) -> InitErrorDetails:
    loc = ("type",) if error["type"] == "union_tag_invalid" else error["loc"][1:]
    out: InitErrorDetails = {"type": error["type"], "loc": loc, "input": error["input"]}
    if "ctx" in error:
        out["ctx"] = error["ctx"]
    return out


def _by_member(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # A 422 names the body's member (`url`), not the union's tag in front of it (`webhook.url`).
    try:
        return handler(value)
    except ValidationError as exc:
        raise ValidationError.from_exception_data(exc.title, [_untagged(e) for e in exc.errors()]) from None


DestinationBody = Annotated[
    Annotated[WebhookBody, Tag("webhook")] | Annotated[EmailBody, Tag("email")],
    Discriminator(_kind),
    WrapValidator(_by_member),
]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutoDisabled(_Answer):
    at: float = Field(description="When the router disabled it, epoch seconds")
    at_iso: str | None = Field(description="`at`, ISO 8601 UTC")
    failures: int = Field(description="The consecutive failures that disabled it")
    status: int | None = Field(description="The last failure's HTTP status")
    error: str | None = Field(description="The last failure's error class")


class DestinationView(_Answer):
    """A destination with its secrets redacted."""

    id: str
    project: str
    name: str
    type: Literal["webhook", "email"]
    template: Template
    url: str | None = Field(description="Only the scheme and host (`https://hooks.slack.com/…`)")
    headers: dict[str, str] = Field(description="Each header's name; every value reads `<redacted>`")
    payload: str | None
    options: dict[str, str]
    to: list[str]
    event_types: list[str]
    enabled: bool
    auto_disable_after: int | None
    auto_disabled: AutoDisabled | None = Field(description="Set while the router has it disabled after failures")


class DestinationsPage(_Answer):
    data: list[DestinationView]
    next: None = Field(description="Always null: the list is not paged")
    total: int


class Change(_Answer):
    id: str
    change: Literal["created", "updated", "unchanged"]


class Switched(Change):
    enabled: bool


class Deleted(_Answer):
    deleted: Literal[True]


class SampleResult(_Answer):
    ok: bool = Field(description="The destination accepted the sample event")
    status: int | None = Field(description="Its HTTP status; null without a response")
    latency_ms: float | None = Field(description="Null when no connection was made")
    error: str | None = Field(
        description="Null on success; `http_status`, `timeout`, `unreachable`, `address_refused`, `render_error: ...`"
    )


class Named(_Answer):
    id: str
    name: str


class NotificationUser(_Answer):
    id: str
    metadata: dict[str, Any]


class NotificationIntegration(_Answer):
    id: str
    type: str


class NotificationEntry(_Answer):
    """A failure event as the destinations receive it, with its entry id."""

    id: str = Field(description="The entry's id; pass it as `cursor` to page back from it")
    type: str = Field(description=", ".join(EVENT_TYPES))
    timestamp: int = Field(description="Epoch milliseconds")
    timestampISO: str = Field(description="`timestamp`, ISO 8601 UTC")
    message: str
    project: Named
    user: NotificationUser | None = None
    integration: NotificationIntegration | None = None
    workflow: Named | None = None
    data: dict[str, Any] = Field(description="The event's own members (its `type` says which)")


class NotificationsPage(_Answer):
    data: list[NotificationEntry] = Field(description="Newest first")
    next: str | None = Field(description="The next page's path and query; null on the last page")


class Replayed(_Answer):
    id: str = Field(description="The new entry's id")
    replay_of: str = Field(description="The entry it copies")


DestinationId = Annotated[str, Path(description="The destination's id")]
# Read as text and checked by the route, so a bad value answers the 400 it always did; documented as the integer.
Limit = Annotated[
    str | None,
    WithJsonSchema({"type": "integer", "minimum": 0, "maximum": U64}),
    Query(description="Events per page, 1-1000 (default 50; 0 reads as 1, larger is capped)"),
]


REDACTED = "<redacted>"


def _shown_url(url: SecretStr) -> str:
    # The host says where events go; the path of a Slack webhook URL is the credential itself.
    parts = urlsplit(url.get_secret_value())
    return f"{parts.scheme}://{parts.hostname}/…"


def redacted(destination: Destination, disabled: bytes | str | None) -> dict[str, Any]:
    data = destination.model_dump(mode="json", exclude={"url", "headers"})
    data["url"] = _shown_url(destination.url) if destination.url else None
    data["headers"] = {name: REDACTED for name in destination.headers}
    record = json.loads(disabled) if disabled else None
    data["auto_disabled"] = paging.with_iso(record, seconds=["at"]) if isinstance(record, dict) else record
    return data


async def _disabled(request: Request) -> dict[str, bytes | str]:
    state = app_state(request)
    return await DisabledDestinations.of(state["store"], state["keys"]).records()


@router.get("/destinations", response_model=DestinationsPage, summary="List destinations, secrets redacted")
@admin(at.read(at.query("project")))
async def list_destinations(
    request: Request,
    project: Annotated[str | None, Query(description="Only this project's (a project key must name it)")] = None,
) -> Response:
    state = app_state(request)
    disabled = await _disabled(request)
    project = project or None
    data = [
        redacted(d, disabled.get(d.id))
        for d in state["cache"].current.destinations.values()
        if project is None or d.project == project
    ]
    return JSONResponse(paging.page(data, total=len(data)))


@router.get("/destinations/{destination_id}", response_model=DestinationView, summary="One destination, redacted")
@admin(at.read(at.destination()))
async def get_destination(request: Request, destination_id: DestinationId) -> Response:
    destination = app_state(request)["cache"].current.destinations.get(destination_id)
    if destination is None:
        return problem(404, "not_found")
    return JSONResponse(redacted(destination, (await _disabled(request)).get(destination.id)))


@router.put(
    "/destinations/{destination_id}",
    response_model=Change,
    responses={
        201: {"model": Change, "description": "Created"},
        **responses(
            s400="A destination that cannot be sent (`invalid_destination`: unknown event types, a URL it needs, a "
            "template that does not render), an address the egress policy refuses (`address_refused`), or an "
            "unknown project (`unknown_project`)"
        ),
    },
    summary="Create or replace a destination",
    description="The body is the record without its id; `type` (default `webhook`) says which members it takes. "
    "`url` and `headers` are write-only: left out when replacing a webhook destination of the same project, the "
    "stored ones are kept. Moving a destination to another project needs the operator.",
)
@admin(at.write(at.destination_put()))
async def put_destination(request: Request, destination_id: DestinationId, body: DestinationBody) -> Response:
    state = app_state(request)
    try:
        # The record's own checks (the ones `hookrouter apply` makes too) answer as they always did.
        stored = await state["registry"].get("destination", destination_id)
        current = stored if isinstance(stored, Destination) else None
        data = _unredacted({**body.model_dump(), **_kept(current, body)}, current)
        destination = Destination.model_validate({**data, "id": destination_id})
        validate(destination)
    except (ValidationError, RenderError) as exc:
        return problem(400, "invalid_destination", _message(exc), message=_message(exc))
    except ValueError as exc:  # a redacted value with nothing stored behind it
        return problem(400, "invalid_destination", str(exc), message=str(exc))
    refusals = destination_refusals(destination, state["egress"])
    if refusals:
        return problem(400, "address_refused", "; ".join(refusals), message="; ".join(refusals))
    if destination.project not in state["cache"].current.projects:
        return problem(
            400,
            "unknown_project",
            "project: no such project",
            errors=[{"field": "project", "message": "no such project"}],
        )
    change = await state["registry"].put(destination)
    return JSONResponse({"id": destination.id, "change": change}, status_code=201 if change == "created" else 200)


def _unredacted(data: dict[str, Any], current: Destination | None) -> dict[str, Any]:
    """A body with the values an answer showed redacted (the URL's scheme and host, ``<redacted>`` header values)
    taken from the stored destination: a GET written back keeps its secrets. Sent back for a destination that
    has none to keep, they are refused: a URL ending in ``/…`` or a ``<redacted>`` header is a mask, never a value."""
    url, headers = data.get("url"), data.get("headers") or {}
    if isinstance(url, SecretStr) and url.get_secret_value().endswith("/…"):
        if current is None or current.url is None or _shown_url(current.url) != url.get_secret_value():
            raise ValueError("url: the scheme and host an answer shows; send the whole URL")
        data["url"] = current.url
    kept = dict(current.headers) if current is not None else {}
    for name, value in headers.items():
        if isinstance(value, SecretStr) and value.get_secret_value() == REDACTED:
            if name not in kept:
                raise ValueError(f"headers.{name}: {REDACTED!r} is how a value is shown; send the value")
            headers[name] = kept[name]
    return data


def _kept(current: Destination | None, body: WebhookBody | EmailBody) -> dict[str, Any]:
    """The write-only members a replacement leaves out, from the stored destination (same project, both webhooks):
    a form that cannot show a secret must not wipe it when it is not typed again."""
    if current is None or current.project != body.project or current.type != "webhook" or body.type != "webhook":
        return {}
    return {name: getattr(current, name) for name in ("url", "headers") if name not in body.model_fields_set}


def _message(exc: ValidationError | RenderError) -> str:
    if isinstance(exc, ValidationError):
        # Field names and messages only: pydantic's default text would echo the input, secrets included.
        return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return str(exc)


async def _set_enabled(request: Request, destination_id: str, enabled: bool) -> Response:
    state = app_state(request)
    destination = state["cache"].current.destinations.get(destination_id)
    if destination is None:
        return problem(404, "not_found")
    change = await state["registry"].put(destination.model_copy(update={"enabled": enabled}))
    if enabled:  # re-enabling also lifts an automatic disable and starts the failure count afresh
        await DisabledDestinations.of(state["store"], state["keys"]).lift(destination.id)
    return JSONResponse({"id": destination.id, "enabled": enabled, "change": change})


@router.post(
    "/destinations/{destination_id}/enable",
    response_model=Switched,
    summary="Enable a destination (lifting an automatic disable and its failure count)",
)
@admin(at.write(at.destination()))
async def enable_destination(request: Request, destination_id: DestinationId) -> Response:
    return await _set_enabled(request, destination_id, True)


@router.post("/destinations/{destination_id}/disable", response_model=Switched, summary="Disable a destination")
@admin(at.write(at.destination()))
async def disable_destination(request: Request, destination_id: DestinationId) -> Response:
    return await _set_enabled(request, destination_id, False)


@router.delete(
    "/destinations/{destination_id}",
    response_model=Deleted,
    responses=responses(s404="No such destination (`not_found`, with `deleted: false`)"),
    summary="Delete a destination",
)
@admin(at.write(at.destination()))
async def delete_destination(request: Request, destination_id: DestinationId) -> Response:
    state = app_state(request)
    removed = await state["registry"].delete("destination", destination_id)
    if not removed:
        return problem(404, "not_found", deleted=False)
    return JSONResponse({"deleted": removed})


def sample_event(snapshot: Snapshot, project: str) -> dict[str, Any]:
    event = workflow_failure(
        snapshot,
        project=project,
        workflow="sample-workflow",
        user="sample-user",
        execution_id="sample-execution",
        error="This is a test event from hookrouter",
    )
    event["message"] = "Test event from hookrouter: this destination is reachable"
    return event


# Transport failures the test action reports as one: it must not tell a closed port from a filtered one or
# from a service that speaks another protocol, or it would serve as a port scanner of the allowed networks.
_NO_CONNECTION = frozenset({"invalid_url", "unsupported_protocol", "address_refused"})
_REFUSED = {"ok": False, "status": None, "latency_ms": None, "error": "address_refused"}


@router.post(
    "/destinations/{destination_id}/test",
    response_model=SampleResult,
    summary="Send a sample event now: the destination's status, latency and error",
)
@admin(at.write(at.destination()))
async def test_destination(request: Request, destination_id: DestinationId) -> Response:
    state = app_state(request)
    snapshot = state["cache"].current
    destination = snapshot.destinations.get(destination_id)
    if destination is None:
        return problem(404, "not_found")
    if destination_refusals(destination, state["egress"]):
        return JSONResponse(_REFUSED)  # saved before the policy changed, or by apply with another allow-list
    started = time.monotonic()
    try:
        result = await state["destination_sender"].send_once(destination, sample_event(snapshot, destination.project))
    except RenderError as exc:
        return JSONResponse({"ok": False, "status": None, "latency_ms": 0, "error": f"render_error: {exc}"})
    if result.error_class == "address_refused":
        return JSONResponse(_REFUSED)
    if destination.type != "email" and result.status is None and result.error_class not in _NO_CONNECTION:
        return JSONResponse({"ok": False, "status": None, "latency_ms": None, "error": "unreachable"})
    return JSONResponse(
        {
            "ok": result.verdict == "success",
            "status": result.status,
            "latency_ms": round((time.monotonic() - started) * 1000, 1),
            "error": result.error_class,
        }
    )


@router.get("/notifications", response_model=NotificationsPage, summary="The newest failure events")
@admin(at.OPERATOR_ONLY)
async def list_notifications(
    request: Request,
    kind: Annotated[
        str | None, Query(alias="type", description=f"Only this event type ({', '.join(EVENT_TYPES)})")
    ] = None,
    limit: Limit = None,
    cursor: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "pattern": "^[0-9]{1,20}-[0-9]{1,20}$"}),
        Query(description="A notification id (each part at most 2**64 - 1): the page starts after it"),
    ] = None,
) -> Response:
    state = app_state(request)
    count = clamped_limit(request, 50, 1000)
    before = cursor or None
    if before is not None and not StreamId.is_valid(before):
        return bad_parameter("cursor", "cursor must be a notification id")
    entries = await state["store"].latest(state["keys"].notifications, count, before=before)
    data = [{"id": e.id, **event_of(e)} for e in entries if kind in (None, Notification.lenient(e.fields).type)]
    last = entries[-1].id if len(entries) == count else None
    return JSONResponse(paging.page(data, paging.next_link(request, last)))


@router.post(
    "/notifications/{notification_id}/replay",
    response_model=Replayed,
    status_code=202,
    responses=responses(s409="The stored entry is unreadable (`malformed_entry`, naming the `field`)"),
    summary="Send a failure event to the destinations again, as a new entry marked `replay_of`",
)
@admin(at.OPERATOR_ONLY)
async def replay_notification(
    request: Request, notification_id: Annotated[str, Path(description="The notification's id")]
) -> Response:
    state = app_state(request)
    entry_id = notification_id
    entry = await state["store"].get(state["keys"].notifications, entry_id)
    if entry is None:
        return problem(404, "not_found")
    try:
        copy = dataclasses.replace(Notification.from_fields(entry.fields, entry.id), replay_of=entry.id)
    except MalformedEntry as exc:
        return problem(409, "malformed_entry", f"stored entry field {exc.field} is unreadable", field=exc.field)
    new_id = await state["store"].append(state["keys"].notifications, copy.to_fields())
    return JSONResponse({"id": new_id, "replay_of": entry.id}, status_code=202)
