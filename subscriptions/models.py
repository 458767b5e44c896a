"""The persisted, validated shapes of the registry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator

import verifiers

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    project: Id


class Project(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    name: str = ""


class Integration(Record):
    """A provider app registered with the platform (one webhook URL, one set of signing secrets).

    ``secrets`` are all active at once so a secret can be rotated with an overlap: add the new one,
    let the provider switch, then remove the old one.
    """

    type: str
    secrets: list[SecretStr] = Field(default_factory=list)
    enabled: bool = True

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        known = verifiers.providers()
        if value not in known:
            raise ValueError(f"unknown integration type {value!r}; known types: {', '.join(known)}")
        return value


class ConnectedUser(Record):
    """An end user of the platform; ``id`` is the ``sub`` of their user token."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    disabled: bool = False


class Credential(Record):
    """One connected account: a user's authorisation of one integration.

    ``provider_id`` is the provider's tenant id for that account (Slack ``team_id``, HubSpot
    ``portalId``, ...). Several credentials may share one: several users can connect one workspace.
    """

    user: Id
    integration: Id
    provider_id: str | None = None
    status: Literal["VALID", "INVALID"] = "VALID"


class StreamTarget(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["stream"] = "stream"


class Workflow(Record):
    """A workflow fired by events of one integration whose event type matches ``trigger``.

    ``trigger`` is a provider event type (``message.channels``, ``issues.opened``) or ``*`` for all.
    """

    name: str = ""
    integration: Id
    trigger: str = "*"
    target: StreamTarget = Field(default_factory=StreamTarget)
    deployed: bool = True


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


def trigger_matches(trigger: str, event_type: str) -> bool:
    return trigger == "*" or trigger == event_type
