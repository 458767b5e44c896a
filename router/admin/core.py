"""The admin API's views of integrations and workflows: verification failures, handshake captures, triggers."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router.admin import paging
from router.admin import scopes as at
from router.admin.guard import admin, admin_router
from router.admin.problems import problem
from router.runtime.state import app_state
from router.storage.entries import TriggerJob
from subscriptions.models import Integration, IntegrationDisplay

router = admin_router()  # each route names its tag: the workflow triggers route is not an integration's

IntegrationId = Annotated[str, Path(description="The integration's id")]
Scalar = str | int | float | bool | None


class OptionsOverview(BaseModel):
    """How the router calls the integration's provider API; the OAuth client secret is never shown."""

    model_config = ConfigDict(extra="forbid")

    api_base_url: str | None
    token_url: str | None
    client_id: str | None
    client_secret_set: bool
    poll_interval_s: float


class IntegrationOverview(BaseModel):
    """An integration as registered, with its secrets counted, never shown."""

    model_config = ConfigDict(extra="forbid")

    id: str
    project: str
    type: str = Field(description="The provider scheme it verifies (`slack`, `github`, ...)")
    enabled: bool
    public_url: str | None = Field(description="The base URL its provider calls, when not the router's own")
    secrets_count: int = Field(description="How many signing secrets are active")
    options: OptionsOverview
    display: IntegrationDisplay = Field(description="How the Connect Portal shows it (`GET /sdk/metadata`)")
    duplicates: int = Field(description="Provider deliveries dropped as repeats of one already stored")


class IntegrationOverviewPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[IntegrationOverview]
    next: None = Field(description="Always null: every integration is on the one page")
    total: int


class Trigger(BaseModel):
    """A trigger job still on the workflow's stream."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="The job's entry id on the workflow's stream")
    job_id: str
    event_id: str
    workflow: str
    credential: str
    user: str
    event_type: str
    provider_id: str


class TriggerPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[Trigger] = Field(description="The latest 50 jobs, newest first")
    next: None = Field(description="Always null: the list is not paged")


class VerificationFailure(BaseModel):
    """One rejected webhook: reason codes, header names and the verifier's diagnostics; never a secret, a hash of
    one, a signature or a body. Members other than those listed are diagnostics of a provider's scheme."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, Scalar | list[Scalar]] = Field(init=False)

    at: int = Field(description="When, epoch milliseconds")
    at_iso: str | None = Field(description="`at`, ISO 8601 UTC")
    provider: str = Field(description="The scheme of the integration's type")
    reason: str = Field(description="The verifier's reason code (`signature_mismatch`, `missing_header`, ...)")
    headers_seen: list[str] = Field(description="The names (only) of the request's headers")
    scheme: str | None = Field(None, description="The signature scheme tried")
    header: str | None = Field(None, description="The header at fault")
    skew_s: float | None = Field(None, description="How far the signed timestamp was from the router's clock")
    tolerance_s: float | None = Field(None, description="The window the scheme accepts")
    secrets_tried: int | None = Field(None, description="How many active secrets were tried")
    signatures_received: int | None = None
    expected_fingerprints: list[str] | None = Field(
        None, description="8 hex characters of each expected HMAC; absent where the scheme compares the secret itself"
    )


class FailurePage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[VerificationFailure] = Field(description="The latest 50, newest first")
    next: None = Field(description="Always null: the list is not paged")
    total: int


class Capture(BaseModel):
    """A value a provider handed over in a handshake."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, description="What the activate route names; absent on captures kept before ids")
    at: int = Field(description="When, epoch milliseconds")
    at_iso: str | None = Field(description="`at`, ISO 8601 UTC")
    purpose: str = Field(description="What the provider handed over (a verification token, a hook secret, ...)")
    activated: bool = Field(description="Whether the router made it a signing secret as it captured it")
    source: str = Field("", description="The address it came from")
    value: str = Field(description="The value itself, for the operator to act on")


class CapturePage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: list[Capture] = Field(description="Oldest first: captures are kept first come")
    next: None = Field(description="Always null: the list is not paged")
    total: int
    dropped: int = Field(description="Handshakes not kept for want of room")


class Cleared(BaseModel):
    model_config = ConfigDict(extra="forbid")

    deleted: int = Field(description="How many captures were forgotten")


class Activated(BaseModel):
    model_config = ConfigDict(extra="forbid")

    integration: str
    secrets_count: int = Field(description="How many signing secrets are active now")
    change: Literal["created", "updated", "unchanged"] = Field(
        description="`unchanged` when the value already was a secret of the integration"
    )


@router.get(
    "/integrations",
    tags=["integrations"],
    response_model=IntegrationOverviewPage,
    summary="Every integration (secrets counted)",
)
@admin(at.OPERATOR_ONLY)
async def list_integrations(request: Request) -> Response:
    state = app_state(request)
    counts: Counter[str] = Counter()
    for shard in state["keys"].every_shard:  # each shard counts its own tenants' repeats
        counts.update(await state["store"].repeat_counts(shard.duplicates))
    integrations = state["cache"].current.integrations.values()
    data = [_integration(i, counts.get(i.id, 0)) for i in integrations]
    return JSONResponse(paging.page(data, total=len(data)))


def _integration(integration: Integration, duplicates: int) -> dict[str, Any]:
    # Secrets are never returned, only how many are active.
    data = integration.model_dump(mode="json", exclude={"secrets"})
    data["secrets_count"] = len(integration.secrets)
    options = data["options"]
    options["client_secret_set"] = options.pop("client_secret") is not None
    data["duplicates"] = duplicates
    return data


@router.get(
    "/workflows/{workflow_id}/triggers",
    response_model=TriggerPage,
    tags=["workflows"],
    summary="A workflow's latest trigger jobs still on its stream",
)
@admin(at.read(at.workflow()))
async def list_triggers(
    request: Request, workflow_id: Annotated[str, Path(description="The workflow's id")]
) -> Response:
    """Acknowledged jobs are trimmed from the stream, so this shows what its runner has yet to take or settle."""
    state = app_state(request)
    if workflow_id not in state["cache"].current.workflows:
        return problem(404, "not_found")
    entries = await state["store"].latest(state["keys"].triggers(workflow_id), 50)
    return JSONResponse(paging.page([_trigger(e.id, TriggerJob.lenient(e.fields)) for e in entries]))


def _trigger(entry_id: str, job: TriggerJob) -> dict[str, str]:
    return {
        "id": entry_id,
        "job_id": job.job_id,
        "event_id": job.event_id,
        "workflow": job.workflow,
        "credential": job.credential,
        "user": job.user,
        "event_type": job.event_type,
        "provider_id": job.provider_id,
    }


@router.get(
    "/integrations/{integration_id}/verification-failures",
    tags=["integrations"],
    response_model=FailurePage,
    summary="An integration's recently rejected webhooks, and why",
)
@admin(at.read(at.integration()))
async def verification_failures(request: Request, integration_id: IntegrationId) -> Response:
    """Recent rejected webhooks of one integration, with the verifier's diagnostics (no secrets)."""
    state = app_state(request)
    if integration_id not in state["cache"].current.integrations:
        return problem(404, "not_found")
    data = [paging.with_iso(f, ms=["at"]) for f in await state["diagnostics"].failures(integration_id)]
    return JSONResponse(paging.page(data, total=len(data)))


@router.get(
    "/integrations/{integration_id}/handshakes",
    tags=["integrations"],
    response_model=CapturePage,
    summary="Values providers handed over in handshakes",
)
@admin(at.read(at.integration()))
async def handshake_captures(request: Request, integration_id: IntegrationId) -> Response:
    """Values providers handed over in handshakes (Notion's verification token, ...), for the operator."""
    state = app_state(request)
    if integration_id not in state["cache"].current.integrations:
        return problem(404, "not_found")
    captures, dropped = await state["diagnostics"].captures(integration_id)
    data = [paging.with_iso(c, ms=["at"]) for c in captures]
    return JSONResponse(paging.page(data, total=len(data), dropped=dropped))


@router.delete(
    "/integrations/{integration_id}/handshakes",
    tags=["integrations"],
    response_model=Cleared,
    summary="Forget an integration's captures",
)
@admin(at.write(at.integration()))
async def clear_handshake_captures(request: Request, integration_id: IntegrationId) -> Response:
    """Forget an integration's captures, so the next handshake the provider resends has room to be kept."""
    state = app_state(request)
    if integration_id not in state["cache"].current.integrations:
        return problem(404, "not_found")
    return JSONResponse({"deleted": await state["diagnostics"].clear_captures(integration_id)})


@router.post(
    "/integrations/{integration_id}/handshakes/{capture_id}/activate",
    tags=["integrations"],
    response_model=Activated,
    summary="Make a captured value a signing secret",
)
@admin(at.write(at.integration()))
async def activate_capture(
    request: Request,
    integration_id: IntegrationId,
    capture_id: Annotated[
        str, Path(description="A capture's `id` (or, for one kept before captures had ids, its `at`)")
    ],
) -> Response:
    """Make a captured handshake value an active signing secret of its integration."""
    state = app_state(request)
    integration = state["cache"].current.integrations.get(integration_id)
    if integration is None:
        return problem(404, "not_found")
    captures, _ = await state["diagnostics"].captures(integration.id)
    match = next((c for c in captures if c.get("id") == capture_id), None) or next(
        (c for c in captures if str(c["at"]) == capture_id), None
    )
    if match is None:
        return problem(404, "not_found")
    if any(s.get_secret_value() == match["value"] for s in integration.secrets):
        return JSONResponse(
            {"integration": integration.id, "secrets_count": len(integration.secrets), "change": "unchanged"}
        )
    secrets = [*integration.secrets, SecretStr(match["value"])]
    action = await state["registry"].put(integration.model_copy(update={"secrets": secrets}))
    return JSONResponse({"integration": integration.id, "secrets_count": len(secrets), "change": action})
