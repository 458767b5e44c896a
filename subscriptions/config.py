"""Declarative configuration: a YAML file describing one project, applied idempotently.

Applying the same file twice changes nothing the second time. Records not named in the file are left
alone unless ``prune`` is asked for, except a named workflow's activations: the file's list is authoritative
(``subscriptions.plan`` has the rules, and reports what each update changes and drops).

    project: {id: demo, name: Demo}
    integrations:
      - {id: slack-app, type: slack, secrets: ["${SLACK_SIGNING_SECRET}"]}
    users:
      - {id: user-1, metadata: {email: ada@example.com}}
    credentials:
      - {id: cred-1, user: user-1, integration: slack-app, provider_id: T123}
    workflows:
      - {id: wf-1, name: On message, integration: slack-app, trigger: Channel Message Sent,
         activations: [user-1]}

A workflow's integration trigger must be a trigger name of its integration type's catalog
(subscriptions/trigger_catalog.py), ``event:<provider event type>`` or ``*``; load() rejects others.

``${NAME}`` in a string is replaced by the environment variable NAME, so secrets need not be
written into the file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import verifiers
from subscriptions import custom, triggers
from subscriptions.destinations import Destination
from subscriptions.errors import ConfigError
from subscriptions.models import (
    Activation,
    ConnectedUser,
    Credential,
    Integration,
    Project,
    Workflow,
    activation_id,
)
from subscriptions.plan import Change, Plan, plan
from subscriptions.plan import apply as apply_records
from subscriptions.registry import Registry
from verifiers.custom_spec import HmacSpec

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: Project
    integrations: list[dict[str, Any]] = Field(default_factory=list)
    users: list[dict[str, Any]] = Field(default_factory=list)
    credentials: list[dict[str, Any]] = Field(default_factory=list)
    workflows: list[dict[str, Any]] = Field(default_factory=list)
    custom_webhooks: list[dict[str, Any]] = Field(default_factory=list)  # subscriptions.custom
    destinations: list[dict[str, Any]] = Field(default_factory=list)  # subscriptions.destinations
    api_resources: list[dict[str, Any]] = Field(default_factory=list)
    resource_connections: list[dict[str, Any]] = Field(default_factory=list)


def _expand(value: Any, missing: list[str]) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                missing.append(name)
                return ""
            return os.environ[name]

        return _ENV.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, missing) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, missing) for k, v in value.items()}
    return value


def _build(model: type[BaseModel], data: dict[str, Any], project: str, where: str, errors: list[str]) -> Any:
    try:
        return model.model_validate({**data, "project": project})
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            errors.append(f"{where}.{loc}: {err['msg']}")
        return None


def _activations(
    wf: Workflow, users: list[Any], pid: str, taken: dict[str, str], errors: list[str]
) -> list[Activation]:
    out = []
    for user in map(str, users):
        record_id = activation_id(wf.id, user)
        # The id joins workflow and user with ':': two pairs may share it, and one would silently replace the other.
        if taken.setdefault(record_id, wf.id) != wf.id:
            other = taken[record_id]
            errors.append(f"workflow {wf.id!r}: activating user {user!r} clashes with an activation of {other!r}")
        out.append(Activation(id=record_id, project=pid, workflow=wf.id, user=user))
    return out


def _records(cfg: ConfigFile, errors: list[str]) -> list[BaseModel]:
    pid = cfg.project.id
    records: list[BaseModel] = [cfg.project]
    taken: dict[str, str] = {}
    for n, item in enumerate(cfg.integrations):
        records.append(_build(Integration, item, pid, f"integrations[{n}]", errors))
    for n, item in enumerate(cfg.users):
        records.append(_build(ConnectedUser, item, pid, f"users[{n}]", errors))
    for n, item in enumerate(cfg.credentials):
        records.append(_build(Credential, item, pid, f"credentials[{n}]", errors))
    for n, item in enumerate(cfg.workflows):
        data = dict(item)
        users = data.pop("activations", [])
        wf = _build(Workflow, data, pid, f"workflows[{n}]", errors)
        records.append(wf)
        if wf is not None and isinstance(users, list):
            records.extend(_activations(wf, users, pid, taken, errors))
        elif wf is not None:
            errors.append(f"workflows[{n}].activations: must be a list of user ids")
    for n, item in enumerate(cfg.destinations):
        records.append(_build(Destination, item, pid, f"destinations[{n}]", errors))
    for n, item in enumerate(cfg.custom_webhooks):
        records.append(_build(custom.CustomWebhook, item, pid, f"custom_webhooks[{n}]", errors))
    for n, item in enumerate(cfg.api_resources):
        records.append(_build(custom.ApiResource, item, pid, f"api_resources[{n}]", errors))
    for n, item in enumerate(cfg.resource_connections):
        records.append(_build(custom.ResourceConnection, item, pid, f"resource_connections[{n}]", errors))
    return [r for r in records if r is not None]


def _check_references(records: list[BaseModel], errors: list[str]) -> None:
    ids: dict[type[BaseModel], set[str]] = {}
    for r in records:
        ids.setdefault(type(r), set()).add(str(r.model_dump()["id"]))
    ids.setdefault(Integration, set()).update(ids.get(custom.ApiResource, set()))  # API-resource workflows name it
    refs = [
        (Credential, "user", ConnectedUser),
        (Credential, "integration", Integration),
        (Workflow, "integration", Integration),
        (Activation, "user", ConnectedUser),
        (Activation, "workflow", Workflow),  # always so in a file, whose activations are listed under their workflow
    ]
    for record in records:
        for owner, attr, target in refs:
            if isinstance(record, owner):
                value = getattr(record, attr)
                if value not in ids.get(target, set()):
                    kind = owner.__name__.lower()
                    errors.append(f"{kind} {record.model_dump()['id']!r}: {attr} {value!r} is not defined in this file")


def _check_triggers(records: list[BaseModel], errors: list[str]) -> None:
    # A trigger name no event can fire would leave its workflow silently idle: reject it at apply.
    types = {r.id: r.type for r in records if isinstance(r, Integration)}
    for record in records:
        if isinstance(record, Workflow) and record.trigger_type == "integration" and record.integration in types:
            problem = triggers.check(types[record.integration], record.trigger)
            if problem is not None:
                errors.append(f"workflow {record.id!r}: {problem}")


def check_public_urls(records: list[BaseModel], public_url: str, errors: list[str]) -> None:
    """An integration whose scheme signs its URL needs to know that URL: the router never takes it from the
    request's Host, which anyone can set."""
    if public_url:
        return
    for record in records:
        if isinstance(record, Integration) and not record.public_url and record.type in verifiers.providers():
            if verifiers.needs_public_url(record.type, [s.get_secret_value() for s in record.secrets]):
                errors.append(
                    f"integration {record.id!r}: type {record.type} signs its webhook URL; set HOOKROUTER_PUBLIC_URL "
                    "or the integration's public_url"
                )
        elif isinstance(record, custom.CustomWebhook) and _custom_signs_url(record.verification):
            errors.append(f"custom webhook {record.id!r}: its verification signs the URL; set HOOKROUTER_PUBLIC_URL")


def _custom_signs_url(check: custom.Verification) -> bool:
    if check.provider is not None:
        return verifiers.signs_url(check.provider)
    if check.hmac is None:
        return False  # an entry point may read the URL; nothing here can tell
    try:
        return any(kind == "url" for kind, _ in HmacSpec.parse(check.hmac).parts)
    except ValueError:
        return False  # reported by the definition's own validation


def check(records: list[BaseModel], *, public_url: str = "") -> list[str]:
    """What apply checks across records once each is valid on its own: references, triggers, public URLs. One
    line per problem, ``<kind> '<id>': ...``; the admin API runs it over a project's records as they would be."""
    errors: list[str] = []
    _check_references(records, errors)
    _check_triggers(records, errors)
    check_public_urls(records, public_url, errors)
    custom.check_references(records, errors)
    return errors


def load(path: Path, *, public_url: str = "") -> list[BaseModel]:
    """Parse and validate a config file; ConfigError lists every problem at once.

    ``public_url`` is the router's HOOKROUTER_PUBLIC_URL: without it, integrations of URL-signing types must
    carry their own ``public_url``.
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    missing: list[str] = []
    raw = _expand(raw, missing)
    errors = [f"environment variable {name} is not set" for name in sorted(set(missing))]
    try:
        cfg = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        errors += [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ConfigError(f"{path}: invalid config:\n  " + "\n  ".join(errors)) from None
    records = _records(cfg, errors)
    errors += check(records, public_url=public_url)
    if errors:
        raise ConfigError(f"{path}: invalid config:\n  " + "\n  ".join(errors))
    return records


async def apply(
    registry: Registry, records: list[BaseModel], *, prune: bool = False, prune_sdk_users: bool = False
) -> list[Change]:
    """Upsert loaded records in one registry write; ``prune`` also deletes the project's records they do not name
    (the users the SDK created only with ``prune_sdk_users``)."""
    return await apply_records(registry, records, prune=prune, prune_sdk_users=prune_sdk_users)


async def preview(
    registry: Registry, records: list[BaseModel], *, prune: bool = False, prune_sdk_users: bool = False
) -> Plan:
    """What ``apply`` would change, without writing anything."""
    return await plan(registry, records, prune=prune, prune_sdk_users=prune_sdk_users)
