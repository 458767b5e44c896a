"""Custom webhook definitions and API resources: triggers an operator defines as data.

A ``CustomWebhook`` is attached to exactly one of an ``Integration`` (a provider the catalog may not
cover) or an ``ApiResource`` (the operator's own API). Its URL is
``/webhook/triggers/custom/{definition id}``; workflows subscribe with ``trigger_type: custom`` and
``trigger: <definition id>``. Everything that reads the request (routing, event type, persisted
setup values, response templates) is a path expression (``subscriptions.paths``), validated here, at
configuration time.

- **level ``app``**: one URL for every tenant. ``routing`` picks the tenant id out of the request;
  events go to the credentials of the integration (or the connections of the API resource) whose
  ``provider_id`` equals it.
- **level ``user``**: each user's URL carries ``?id=<credential id>`` (or ``<resource connection id>``
  for an API resource); that names the recipient and ``routing`` must not be set.

``setup: api_request`` definitions carry a ``subscription`` (a ``SubscriptionSpec``): the requests that
create (and delete) the webhook at the provider, or at the operator's API, once per credential or
connection whose user activated a workflow on the definition (``subscriptions.custom_lifecycle``). Its
``key`` and ``webhook_path`` are the definition's own (``custom_subscription_key``, ``custom_webhook_path``)
and are filled in when left out.

Importing this module registers its record kinds in ``subscriptions.models.RECORD_TYPES``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

import verifiers
from subscriptions import paths
from subscriptions.models import RECORD_TYPES, ConnectedUser, Id, Integration, Record, Workflow
from subscriptions.providers.spec import SubscriptionSpec
from verifiers.custom_spec import HmacSpec, load_entry_point

PathExpr = Annotated[str, AfterValidator(paths.check)]
Level = Literal["user", "app"]

# ``{{ $.path }}`` inside a response body or header value.
TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def template_paths(template: str) -> list[paths.Path]:
    """Every path in a response template; ``ValueError`` when one does not parse."""
    return [paths.parse(match.group(1)) for match in TEMPLATE.finditer(template)]


def _check_template(template: str) -> str:
    template_paths(template)
    return template


Template = Annotated[str, AfterValidator(_check_template)]


class Verification(BaseModel):
    """How events are authenticated: exactly one of the four, ``none: true`` spelled out on purpose.

    - ``provider``: a catalog scheme (``verifiers.providers()``), with the definition's secrets, or the
      integration's when the definition has none;
    - ``hmac``: a ``verifiers.custom_spec.HmacSpec`` mapping;
    - ``entry_point``: ``package.module:function`` with ``verify_spec``'s keywords minus ``spec``
      (loaded by ``hookrouter apply`` to check it, and by the receiver on first use);
    - ``none: true``: accept unsigned events (an operator's explicit choice, never a default).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str | None = None
    hmac: dict[str, Any] | None = None
    entry_point: str | None = None
    none: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> Verification:
        chosen = [k for k in ("provider", "hmac", "entry_point") if getattr(self, k) is not None]
        chosen += ["none"] if self.none else []
        if len(chosen) != 1:
            raise ValueError(
                "verification needs exactly one of provider, hmac, entry_point or none: true"
                + (f" (got {', '.join(chosen)})" if chosen else "")
            )
        if self.provider is not None and self.provider not in verifiers.providers():
            raise ValueError(f"unknown provider {self.provider!r}; known: {', '.join(verifiers.providers())}")
        if self.hmac is not None:
            HmacSpec.parse(self.hmac)
        if self.entry_point is not None and not _ENTRY_POINT.match(self.entry_point):
            raise ValueError(f"entry_point {self.entry_point!r} must look like 'package.module:function'")
        return self


class ResponseSpec(BaseModel):
    """What the URL answers, and how it recognises and answers a provider's setup request.

    A request is a *setup* request when ``setup_when`` resolves (to ``setup_equals`` when that is set)
    or, without ``setup_when``, when any ``persist`` path resolves. A setup request is answered with
    this response, its ``persist`` values are kept, and no event is stored. Every other request is
    verified and stored, then answered with this response (``body`` unset: ``{"ids": [...]}``).

    ``body`` and header values may hold ``{{ $.path }}`` (missing values render empty; a header that
    renders empty is left out). A persisted value named ``secret`` becomes the definition's signing
    secret when it has none yet; the others are kept for the operator (encrypted).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: int = Field(default=200, ge=200, le=599)
    headers: dict[str, Template] = Field(default_factory=dict)
    body: Template | None = None
    persist: dict[str, PathExpr] = Field(default_factory=dict)
    setup_when: PathExpr | None = None
    setup_equals: str | None = None

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [name for name in value if not _HEADER_NAME.match(name) or name.lower() == "content-length"]
        if bad:
            raise ValueError(f"invalid response header name(s): {', '.join(map(repr, bad))}")
        return value

    @model_validator(mode="after")
    def _equals_needs_when(self) -> ResponseSpec:
        if self.setup_equals is not None and self.setup_when is None:
            raise ValueError("setup_equals needs setup_when")
        return self


def custom_subscription_key(definition_id: str) -> str:
    """The spec key of a definition's subscriptions: one subscription per (credential or connection, key)."""
    return f"custom:{definition_id}"


def custom_webhook_path(definition_id: str, level: str) -> str:
    """The path the provider is given (``{{settings.webhookURL}}``); user level names the recipient."""
    path = f"/webhook/triggers/custom/{definition_id}"
    return path + "?id={{credential.id}}" if level == "user" else path


class CustomWebhook(Record):
    """An operator-defined webhook trigger (see the module docstring)."""

    name: str = ""
    integration: Id | None = None
    api_resource: Id | None = None
    level: Level = "app"
    setup: Literal["manual", "api_request"] = "manual"
    verification: Verification
    secrets: list[SecretStr] = Field(default_factory=list)
    routing: PathExpr | None = None
    event_type: PathExpr | None = None
    delivery_id: PathExpr | None = None
    response: ResponseSpec = Field(default_factory=ResponseSpec)
    subscription: SubscriptionSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _subscription_defaults(cls, data: Any) -> Any:
        # The key and the webhook path follow from the definition: fill them in so an operator need not.
        if isinstance(data, dict) and isinstance(data.get("subscription"), dict) and isinstance(data.get("id"), str):
            defaults = {
                "key": custom_subscription_key(data["id"]),
                "webhook_path": custom_webhook_path(data["id"], str(data.get("level", "app"))),
            }
            data = {**data, "subscription": {**defaults, **data["subscription"]}}
        return data

    @model_validator(mode="after")
    def _shape(self) -> CustomWebhook:
        if (self.integration is None) == (self.api_resource is None):
            raise ValueError("a custom webhook is attached to exactly one of integration or api_resource")
        self._check_subscription()
        if self.level == "app" and self.routing is None:
            raise ValueError("an app-level custom webhook needs routing: a path to the tenant id, e.g. $.body.team.id")
        if self.level == "user" and self.routing is not None:
            raise ValueError("a user-level custom webhook routes by its URL's ?id= parameter; remove routing")
        return self

    def _check_subscription(self) -> None:
        if self.setup == "api_request" and self.subscription is None:
            raise ValueError("setup: api_request needs a subscription: the requests that create the provider's webhook")
        if self.setup == "manual" and self.subscription is not None:
            raise ValueError("a subscription is only for setup: api_request (setup is manual)")
        if self.subscription is None:
            return
        key, path = custom_subscription_key(self.id), custom_webhook_path(self.id, self.level)
        if self.subscription.key != key:
            raise ValueError(f"subscription.key is the definition's own ({key!r}); remove it")
        if self.subscription.webhook_path != path:
            raise ValueError(f"subscription.webhook_path is the definition's own ({path!r}); remove it")

    @property
    def owner(self) -> str:
        """The integration or API resource id: workflows on this definition name it as their integration."""
        return self.integration or self.api_resource or ""


class ApiResource(Record):
    """An operator's own API, as a source of triggers. ``level`` as for custom webhooks: ``user`` when each
    user connects with their own credentials (a ``ResourceConnection``), ``app`` for one set for all."""

    name: str = ""
    level: Level = "user"
    base_url: str = ""


class ResourceConnection(Record):
    """One user's connection to an API resource (the SDK's ``connectAction``). ``provider_id`` is the
    user's tenant id in the operator's API, matched by app-level definitions' ``routing``."""

    user: Id
    api_resource: Id
    provider_id: str | None = None
    values: dict[str, SecretStr] = Field(default_factory=dict)  # the user's API credentials; sealed at rest


RECORD_TYPES.update(custom_webhook=CustomWebhook, api_resource=ApiResource, resource_connection=ResourceConnection)


def _ids(records: Iterable[BaseModel], model: type[Record]) -> dict[str, Any]:
    return {r.id: r for r in records if isinstance(r, model)}


def check_references(records: list[BaseModel], errors: list[str]) -> None:
    """Cross-record checks for ``hookrouter apply``: what each definition, connection and custom workflow
    names is defined in the same file, and entry points load."""
    integrations = _ids(records, Integration)
    resources = _ids(records, ApiResource)
    definitions: dict[str, CustomWebhook] = _ids(records, CustomWebhook)
    users = _ids(records, ConnectedUser)
    for d in definitions.values():
        if d.integration is not None and d.integration not in integrations:
            errors.append(f"custom_webhook {d.id!r}: integration {d.integration!r} is not defined in this file")
        if d.api_resource is not None and d.api_resource not in resources:
            errors.append(f"custom_webhook {d.id!r}: api_resource {d.api_resource!r} is not defined in this file")
        if d.verification.entry_point is not None:
            try:
                load_entry_point(d.verification.entry_point)
            except ValueError as exc:
                errors.append(f"custom_webhook {d.id!r}: {exc}")
    for c in _ids(records, ResourceConnection).values():
        if c.api_resource not in resources:
            errors.append(f"resource_connection {c.id!r}: api_resource {c.api_resource!r} is not defined in this file")
        if c.user not in users:
            errors.append(f"resource_connection {c.id!r}: user {c.user!r} is not defined in this file")
    for wf in (r for r in records if isinstance(r, Workflow) and r.trigger_type == "custom"):
        definition = definitions.get(wf.trigger)
        if definition is None:
            known = ", ".join(sorted(definitions)) or "none"
            errors.append(
                f"workflow {wf.id!r}: custom trigger {wf.trigger!r} is not a custom_webhook in this file ({known})"
            )
        elif definition.owner != wf.integration:
            errors.append(
                f"workflow {wf.id!r}: custom trigger {wf.trigger!r} belongs to {definition.owner!r}, "
                f"not to the workflow's integration {wf.integration!r}"
            )
