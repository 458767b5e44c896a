"""How the admin API shows a registry record: every secret is write-only.

An integration answers how many signing secrets it has and a keyed fingerprint of each (the id that removes it),
credentials and resource connections the names of their values, a custom webhook how many secrets it has, a
workflow's HTTP target its scheme and host and how many signing secrets it has, a Request-trigger rule whether it
has a value. Every answer is checked against its documented model before it leaves, so the schema and the answer
cannot drift apart.

The ETag of a record is derived from its stored document, whose secrets are sealed with a fresh nonce each: it
changes whenever the record is written and says nothing about a secret.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model

from subscriptions.crypto import SecretBox
from subscriptions.custom import ApiResource, CustomWebhook, ResourceConnection
from subscriptions.models import (
    Activation,
    ConnectedUser,
    Credential,
    FieldRule,
    HttpTarget,
    Integration,
    IntegrationOptions,
    Project,
    RequestTrigger,
    StreamTarget,
    Workflow,
)


def _view(name: str, model: type[BaseModel], drop: tuple[str, ...] = (), **extra: Any) -> type[BaseModel]:
    """``model``'s fields but ``drop``, plus ``extra`` (name → (type, FieldInfo)): what an answer shows."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in drop}
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=model.__doc__, **fields, **extra)


def _count(what: str) -> Any:
    return (int, Field(description=f"How many {what} are set; their values are never shown"))


FieldRuleView = _view(
    "FieldRuleView", FieldRule, ("value",), value_set=(bool, Field(description="Whether a value is set"))
)
RequestTriggerView = _view(
    "RequestTriggerView",
    RequestTrigger,
    ("param_validations", "header_validations", "body_validations"),
    param_validations=(list[FieldRuleView], Field(default_factory=list)),  # type: ignore[valid-type]
    header_validations=(list[FieldRuleView], Field(default_factory=list)),  # type: ignore[valid-type]
    body_validations=(list[FieldRuleView], Field(default_factory=list)),  # type: ignore[valid-type]
)
HttpTargetView = _view(
    "HttpTargetView",
    HttpTarget,
    ("url", "secrets"),
    url=(str, Field(description="The target's scheme and host; the rest of the URL is a secret")),
    secrets_count=_count("signing secrets"),
)
TargetView = StreamTarget | HttpTargetView

# What a PUT may send back as a write-only value to mean "keep the stored one": how a secret was once shown.
MASK = "**********"

IntegrationOptionsView = _view(
    "IntegrationOptionsView",
    IntegrationOptions,
    ("client_secret",),
    client_secret_set=(
        bool,
        Field(default=False, description="Whether the OAuth app's client secret is set; it is never shown"),
    ),
)
ProjectView = _view("ProjectView", Project)
IntegrationView = _view(
    "IntegrationView",
    Integration,
    ("secrets", "options"),
    options=(IntegrationOptionsView, Field(default_factory=IntegrationOptionsView)),
    secrets_count=_count("signing secrets"),
    secret_ids=(list[str], Field(description="A keyed fingerprint of each secret: the id that removes it")),
)
UserView = _view("UserView", ConnectedUser)
CredentialView = _view(
    "CredentialView", Credential, ("values",), value_names=(list[str], Field(description="The names of its values"))
)
WorkflowView = _view(
    "WorkflowView",
    Workflow,
    ("target", "request"),
    target=(TargetView, Field(discriminator="type")),
    request=(RequestTriggerView | None, None),
    activations=(list[str], Field(description="The users it is activated for (its activations' user ids)")),
)
ActivationView = _view("ActivationView", Activation)
CustomWebhookView = _view("CustomWebhookView", CustomWebhook, ("secrets",), secrets_count=_count("secrets"))
ApiResourceView = _view("ApiResourceView", ApiResource)
ResourceConnectionView = _view(
    "ResourceConnectionView",
    ResourceConnection,
    ("values",),
    value_names=(list[str], Field(description="The names of its values")),
)

VIEWS: dict[str, type[BaseModel]] = {
    "project": ProjectView,
    "integration": IntegrationView,
    "user": UserView,
    "credential": CredentialView,
    "workflow": WorkflowView,
    "activation": ActivationView,
    "custom_webhook": CustomWebhookView,
    "api_resource": ApiResourceView,
    "resource_connection": ResourceConnectionView,
}


def etag(document: str) -> str:
    """A strong ETag of a stored document (sealed secrets included, as ciphertext)."""
    return '"' + hashlib.sha256(document.encode()).hexdigest()[:32] + '"'


def secret_id(box: SecretBox, integration: Integration, secret: SecretStr) -> str:
    # Bound to its integration: one secret shared by two integrations has two ids.
    return box.fingerprint(secret.get_secret_value(), context=("integration", integration.project, integration.id))


def _host(url: SecretStr) -> str:
    parts = urlsplit(url.get_secret_value())
    return f"{parts.scheme}://{parts.hostname}/…"


def _rules(rules: list[FieldRule]) -> list[dict[str, Any]]:
    return [{**r.model_dump(mode="json", exclude={"value"}), "value_set": r.value is not None} for r in rules]


def _workflow(workflow: Workflow, data: dict[str, Any], activations: list[str]) -> None:
    if isinstance(workflow.target, HttpTarget):
        data["target"] = {
            **workflow.target.model_dump(mode="json", exclude={"url", "secrets"}),
            "url": _host(workflow.target.url),
            "secrets_count": len(workflow.target.secrets),
        }
    if workflow.request is not None:
        data["request"] = {
            **data["request"],
            **{name: _rules(getattr(workflow.request, name)) for name in _RULE_LISTS},
        }
    data["activations"] = activations


_RULE_LISTS = ("param_validations", "header_validations", "body_validations")


def show(kind: str, record: BaseModel, box: SecretBox, *, activations: list[str] | None = None) -> dict[str, Any]:
    """The answer for one record; ``activations``: a workflow's activated users."""
    data = record.model_dump(mode="json")
    if isinstance(record, Integration):
        del data["secrets"]
        data["secrets_count"] = len(record.secrets)
        data["secret_ids"] = [secret_id(box, record, s) for s in record.secrets]
        del data["options"]["client_secret"]
        data["options"]["client_secret_set"] = record.options.client_secret is not None
    elif isinstance(record, Credential | ResourceConnection):
        del data["values"]
        data["value_names"] = sorted(record.values)
    elif isinstance(record, CustomWebhook):
        del data["secrets"]
        data["secrets_count"] = len(record.secrets)
    elif isinstance(record, Workflow):
        _workflow(record, data, activations or [])
    # Validated against the documented model: an answer that strays from it (a secret's field included) fails here.
    return VIEWS[kind].model_validate(data).model_dump(mode="json")


def page_model(kind: str) -> type[BaseModel]:
    view = VIEWS[kind]
    return create_model(
        view.__name__.removesuffix("View") + "Page",
        __config__=ConfigDict(extra="forbid"),
        data=(list[view], ...),  # type: ignore[valid-type]
        next=(str | None, Field(description="The next page's path and query; null on the last page")),
        total=(int, Field(description="How many records the list holds")),
    )
