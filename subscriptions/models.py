"""The persisted, validated shapes of the registry."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from subscriptions import polled_catalog, triggers
from subscriptions.permissions import Condition
from subscriptions.schedules import Schedule

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    project: Id


class Project(BaseModel):
    """A project of the platform.

    ``user_token_public_keys`` (PEM) verify the RS256 user tokens its app signs for App Events and
    Request triggers; several are accepted at once for key rotation. ``app_events`` are the App Event
    names the project defines.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    name: str = ""
    user_token_public_keys: list[str] = Field(default_factory=list)
    app_events: list[str] = Field(default_factory=list)
    # Days its stored events (and their index entries) are kept; None: the router's retention_days.
    retention_days: int | None = Field(default=None, ge=1)


class IntegrationOptions(BaseModel):
    """How the router calls an integration's provider API.

    ``api_base_url`` replaces the provider API's default base URL in every call the router makes for it
    (subscription lifecycle, polls): a national cloud (``https://graph.microsoft.us/v1.0``), a sandbox, a test
    server. Outbound calls go through the egress guard whatever it says. ``token_url``: the OAuth token endpoint
    used to refresh its credentials' access tokens, when not the provider's default; ``client_id`` and
    ``client_secret`` (sealed at rest) the OAuth app's, for those refreshes (``subscriptions.oauth``).
    ``poll_interval_s``: how often each (credential, polled trigger) pair is polled.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_base_url: str | None = None
    token_url: str | None = None
    client_id: str | None = Field(default=None, max_length=512)
    client_secret: SecretStr | None = None
    poll_interval_s: float = Field(default=60.0, ge=10, le=86_400)

    @field_validator("api_base_url", "token_url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_base_url(value, field=str(info.field_name))
        return value


class IntegrationDisplay(BaseModel):
    """How the Connect Portal shows an integration (``GET /sdk/metadata``): its ``name`` (default: its type, title
    cased), ``brand_color`` (``#RRGGBB``) and ``icon`` (an https URL). Display data only: nothing routes on it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(default=None, min_length=1, max_length=100)
    brand_color: Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = None
    icon: str | None = Field(default=None, max_length=2048)

    @field_validator("icon")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^\s/]+(/[^\s]*)?", value):
            raise ValueError("icon must be an absolute https URL")
        return value


class Integration(Record):
    """A provider app registered with the platform (one webhook URL, one set of signing secrets).

    ``secrets`` are all active at once so a secret can be rotated with an overlap: add the new one,
    let the provider switch, then remove the old one.
    """

    type: str
    secrets: list[SecretStr] = Field(default_factory=list)
    enabled: bool = True
    # Base URL its provider calls, when not HOOKROUTER_PUBLIC_URL: URL-signing schemes check against it.
    public_url: str | None = None
    options: IntegrationOptions = Field(default_factory=IntegrationOptions)
    display: IntegrationDisplay = Field(default_factory=IntegrationDisplay)

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not polled_catalog.known_type(value):
            known = ", ".join(polled_catalog.known_types())
            raise ValueError(f"unknown integration type {value!r}; known types: {known}, or custom.<name>")
        return value

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_base_url(value)
        return value


def check_base_url(value: str, *, field: str = "public_url") -> None:
    """A base URL: http(s), a host, no credentials, query or fragment (the request's own are appended)."""
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
    except ValueError:
        raise ValueError(f"{field} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname or len(value) > 2048 or any(c.isspace() for c in value):
        raise ValueError(f"{field} must be an absolute http(s) URL, like https://api.example.com")
    if parts.query or parts.fragment or "?" in value or "#" in value:
        raise ValueError(f"{field} must not have a query string or fragment")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field} must not carry credentials")


class ConnectedUser(Record):
    """An end user of the platform; ``id`` is the ``sub`` of their user token.

    ``origin``: who created the record: ``operator`` (a config file, the admin API) or ``sdk`` (the user's first
    valid token). ``apply --prune`` spares ``sdk`` users a file does not list unless told otherwise: the operator
    never listed them."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    disabled: bool = False
    origin: Literal["operator", "sdk"] = "operator"


Settings = Annotated[dict[str, Any], Field(max_length=1000)]


class ConfiguredWorkflow(BaseModel):
    """One workflow's state on one connected account: enabled or not, and the user's settings for it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    settings: Settings = Field(default_factory=dict)


class CredentialConfig(BaseModel):
    """A connected account's Connect Portal state (the platform's ``config``): per workflow, whether it is enabled
    for this account and its settings; and settings shared by every workflow of the account."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    configured_workflows: dict[Id, ConfiguredWorkflow] = Field(default_factory=dict, max_length=1000)
    shared_settings: Settings = Field(default_factory=dict)


class Credential(Record):
    """One connected account: a user's authorisation of one integration.

    ``provider_id`` is the provider's tenant id for that account (Slack ``team_id``, HubSpot
    ``portalId``, ...). Several credentials may share one: several users can connect one workspace.
    ``config.configured_workflows`` enables or disables a workflow for this account alone; a workflow it does not
    name falls back to the user's activation, then to the workflow's ``enabled_by_default``.
    """

    user: Id
    integration: Id
    provider_id: str | None = None
    status: Literal["VALID", "INVALID"] = "VALID"
    values: dict[str, SecretStr] = Field(default_factory=dict)  # tokens etc. for provider API calls; sealed
    settings_complete: bool = True  # the user finished the integration's required settings
    config: CredentialConfig = Field(default_factory=CredentialConfig)
    provider_data: dict[str, Any] = Field(default_factory=dict, max_length=100)  # account details shown to the user


class StreamTarget(BaseModel):
    """Trigger jobs go to the workflow's Redis stream, read by a workflow runner."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["stream"] = "stream"


_TARGET_URL = re.compile(r"https?://[^\s]+")
_DURATION = r"^\s*(none|\d+(\.\d+)?(ms|s|m|h|d)(\s*,\s*\d+(\.\d+)?(ms|s|m|h|d))*)\s*$"


class HttpTarget(BaseModel):
    """Trigger jobs are POSTed to ``url`` with Standard Webhooks headers signed with every secret in ``secrets``
    (``whsec_`` + base64; several during a rotation), retried on the ``retry_schedule``, within per-target limits.

    ``ordered``: jobs of one (credential, workflow) are delivered one at a time in arrival order; a later one
    waits until the earlier one succeeded or was dead-lettered. Off by default: parallel is faster.

    ``url`` is a secret (its path or query often carries a token): sealed at rest, never echoed, and kept out
    of validation errors.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    type: Literal["http"] = "http"
    url: SecretStr
    secrets: list[SecretStr] = Field(min_length=1)
    timeout_s: float = Field(default=15.0, gt=0, le=120)
    retry_schedule: Annotated[str, StringConstraints(pattern=_DURATION)] | None = None
    max_concurrency: int = Field(default=10, ge=1, le=1000)
    rate_per_s: float = Field(default=50.0, gt=0, le=100_000)
    burst: int = Field(default=50, ge=1, le=100_000)
    breaker_failures: int = Field(default=5, ge=1, le=1000)
    breaker_open_s: float = Field(default=30.0, gt=0, le=86_400)
    ordered: bool = False

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: SecretStr) -> SecretStr:
        value = url.get_secret_value()
        if len(value) > 2048 or not _TARGET_URL.fullmatch(value):
            raise ValueError("target url must be http(s)://, without spaces, at most 2048 characters")
        return url

    @field_validator("secrets")
    @classmethod
    def _whsec(cls, secrets: list[SecretStr]) -> list[SecretStr]:
        for secret in secrets:
            value = secret.get_secret_value()
            try:
                key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if not value.startswith("whsec_") or len(key) < 16:
                raise ValueError("target secrets are whsec_ followed by the base64 of at least 16 random bytes")
        return secrets


Target = Annotated[StreamTarget | HttpTarget, Field(discriminator="type")]


class FieldRule(BaseModel):
    """One Request-trigger validation rule: a param, header or body field that must be present, equal
    ``value`` (headers) or have ``data_type`` (body fields).

    ``value`` is often a shared secret (a header a caller must send): sealed at rest like other secrets."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    key: str
    required: bool = True
    value: SecretStr | None = None
    data_type: Literal["STRING", "NUMBER", "BOOLEAN", "OBJECT", "ARRAY", "FILE"] | None = None


class RequestTrigger(BaseModel):
    """How a Request-triggered workflow accepts calls, and whether it answers with its own response."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_arbitrary_payload: bool = True
    param_validations: list[FieldRule] = Field(default_factory=list)
    header_validations: list[FieldRule] = Field(default_factory=list)
    body_validations: list[FieldRule] = Field(default_factory=list)
    has_response: bool = False


TriggerType = Literal["integration", "app_event", "request", "integration_enabled", "custom", "scheduler"]


class Workflow(Record):
    """A workflow of one integration and what starts it.

    ``trigger_type`` says what ``trigger`` means:
    - ``integration``: a trigger name of the integration's catalog ("Channel Message Sent"), a raw
      provider event type as ``event:<type>``, or ``*`` for every event;
    - ``app_event``: the App Event name;
    - ``request``: unused (``request`` holds the Request trigger's rules);
    - ``integration_enabled``: unused;
    - ``custom``: the id of a custom webhook definition;
    - ``scheduler``: unused (``schedule`` says when it runs: ``subscriptions.schedules``).

    ``permissions`` (Workflow Permissions): conditions on a connected user's metadata, all of which the user
    must meet to be triggered for it. ``enabled_by_default``: every user with a credential of its integration
    has it unless an activation record of theirs disables it; otherwise only users with an enabled
    activation do.
    """

    name: str = ""
    integration: Id
    trigger_type: TriggerType = "integration"
    trigger: str = "*"
    # A polled trigger's parameters (Salesforce ``object``, Google Calendar ``calendarId``): subscriptions/polling/.
    trigger_params: dict[str, str] = Field(default_factory=dict, max_length=20)
    request: RequestTrigger | None = None
    schedule: Schedule | None = None
    target: Target = Field(default_factory=StreamTarget)
    deployed: bool = True
    permissions: list[Condition] = Field(default_factory=list, max_length=100)
    enabled_by_default: bool = False

    @model_validator(mode="after")
    def _scheduled(self) -> Workflow:
        if (self.trigger_type == "scheduler") != (self.schedule is not None):
            raise ValueError("a workflow has a schedule exactly when its trigger_type is scheduler")
        return self


class Activation(Record):
    """A workflow switched on for one connected user. ``id`` is ``{workflow}:{user}``."""

    workflow: Id
    user: Id
    enabled: bool = True


RECORD_TYPES: dict[str, type[BaseModel]] = {
    "project": Project,
    "integration": Integration,
    "user": ConnectedUser,
    "credential": Credential,
    "workflow": Workflow,
    "activation": Activation,
}


def activation_id(workflow: str, user: str) -> str:
    return f"{workflow}:{user}"


def trigger_matches(integration_type: str, trigger: str, event_type: str) -> bool:
    """Whether an integration trigger fires for a provider event type (see subscriptions.triggers)."""
    return triggers.matches(integration_type, trigger, event_type)


# Custom webhooks and API resources live in their own module, which adds its kinds to RECORD_TYPES; it builds on
# Record above, hence the import at the end (a plain import, so either module may be imported first).
import subscriptions.custom  # noqa: E402
import subscriptions.destinations  # noqa: E402, F401
