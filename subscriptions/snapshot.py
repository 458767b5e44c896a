"""An immutable, indexed view of the registry for the hot path, and the cache that keeps it fresh.

The receiver and the workers look up integrations, credentials and workflows on every event; a
Redis round trip per lookup would dominate. The cache polls the registry's version counter and epoch
(one MGET) every ``refresh_s`` and rebuilds the snapshot only when either moved, so a change is seen
within ``refresh_s`` plus one load, also after Redis was emptied and written again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel

from subscriptions.custom import ApiResource, CustomWebhook, ResourceConnection
from subscriptions.destinations import Destination
from subscriptions.models import (
    Activation,
    ConnectedUser,
    Credential,
    Integration,
    Project,
    Workflow,
    trigger_matches,
)
from subscriptions.permissions import permits
from subscriptions.registry import Registry

T = TypeVar("T", bound=BaseModel)


def _typed(records: Sequence[BaseModel], model: type[T]) -> list[T]:
    return [r for r in records if isinstance(r, model)]


@dataclass(frozen=True)
class Snapshot:
    version: int = 0
    epoch: str = ""
    projects: dict[str, Project] = field(default_factory=dict)
    integrations: dict[str, Integration] = field(default_factory=dict)
    users: dict[str, ConnectedUser] = field(default_factory=dict)
    credentials: dict[str, Credential] = field(default_factory=dict)
    workflows: dict[str, Workflow] = field(default_factory=dict)
    activations: dict[str, Activation] = field(default_factory=dict)
    # By (workflow, user), not by id: the id joins the two with ':', and workflow "w:x" of user "u" must not
    # activate workflow "w" for user "x:u".
    by_activation: dict[tuple[str, str], Activation] = field(default_factory=dict)
    by_tenant: dict[tuple[str, str], list[Credential]] = field(default_factory=dict)
    by_integration: dict[str, list[Workflow]] = field(default_factory=dict)
    custom_webhooks: dict[str, CustomWebhook] = field(default_factory=dict)
    api_resources: dict[str, ApiResource] = field(default_factory=dict)
    resource_connections: dict[str, ResourceConnection] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)

    @classmethod
    def build(cls, version: int, records: dict[str, list[BaseModel]], epoch: str = "") -> Snapshot:
        credentials = _typed(records.get("credential", []), Credential)
        workflows = _typed(records.get("workflow", []), Workflow)
        by_tenant: dict[tuple[str, str], list[Credential]] = defaultdict(list)
        for cred in credentials:
            if cred.provider_id:
                by_tenant[(cred.integration, cred.provider_id)].append(cred)
        by_integration: dict[str, list[Workflow]] = defaultdict(list)
        for wf in workflows:
            by_integration[wf.integration].append(wf)
        activations = _typed(records.get("activation", []), Activation)
        return cls(
            version=version,
            epoch=epoch,
            projects={p.id: p for p in _typed(records.get("project", []), Project)},
            integrations={i.id: i for i in _typed(records.get("integration", []), Integration)},
            users={u.id: u for u in _typed(records.get("user", []), ConnectedUser)},
            credentials={c.id: c for c in credentials},
            workflows={w.id: w for w in workflows},
            activations={a.id: a for a in activations},
            by_activation={(a.workflow, a.user): a for a in activations},
            by_tenant=dict(by_tenant),
            by_integration=dict(by_integration),
            custom_webhooks={d.id: d for d in _typed(records.get("custom_webhook", []), CustomWebhook)},
            api_resources={r.id: r for r in _typed(records.get("api_resource", []), ApiResource)},
            resource_connections={c.id: c for c in _typed(records.get("resource_connection", []), ResourceConnection)},
            destinations={d.id: d for d in _typed(records.get("destination", []), Destination)},
        )

    def destinations_for(self, project: str, event_type: str) -> list[Destination]:
        """The enabled destinations of a project that take this event type."""
        return [d for d in self.destinations.values() if d.project == project and d.wants(event_type)]

    def credentials_for(self, integration: str, provider_id: str) -> list[Credential]:
        return self.by_tenant.get((integration, provider_id), [])

    def workflows_for(self, integration: Integration, event_type: str) -> list[Workflow]:
        """Integration-triggered workflows of ``integration`` that ``event_type`` fires."""
        return [
            w
            for w in self.by_integration.get(integration.id, [])
            if w.trigger_type == "integration" and trigger_matches(integration.type, w.trigger, event_type)
        ]

    def is_activated(self, workflow: str, user: str, credential: Credential | None = None) -> bool:
        """The credential's ``configured_workflows`` entry for the workflow decides, when there is one (the
        platform enables workflows per connected account); else the user's activation record; else the
        workflow's ``enabled_by_default``."""
        if credential is not None:
            configured = credential.config.configured_workflows.get(workflow)
            if configured is not None:
                return configured.enabled
        activation = self.by_activation.get((workflow, user))
        if activation is not None:
            return activation.enabled
        wf = self.workflows.get(workflow)
        return wf is not None and wf.enabled_by_default

    def is_permitted(self, workflow: Workflow, user: str) -> bool:
        """Whether ``user``'s metadata meets the workflow's permissions (an unknown user meets none)."""
        if not workflow.permissions:
            return True
        record = self.users.get(user)
        return record is not None and permits(workflow.permissions, record.metadata)

    def workflow_gate(self, workflow: Workflow, user: str, credential: Credential | None = None) -> str:
        """Why ``workflow`` does not run for ``user`` (with ``credential``, when it runs with one: a routing
        outcome's reason), or "" when it does."""
        if not workflow.deployed:
            return "workflow_not_deployed"
        if not self.is_activated(workflow.id, user, credential):
            return "workflow_not_activated"
        if not self.is_permitted(workflow, user):
            return "workflow_permission_denied"
        return ""


class SnapshotCache:
    def __init__(self, registry: Registry, *, refresh_s: float = 0.25) -> None:
        self._registry = registry
        self._refresh_s = refresh_s
        self._snapshot = Snapshot()

    @property
    def current(self) -> Snapshot:
        return self._snapshot

    async def refresh(self) -> Snapshot:
        """Reload when the registry's version moved; cheap (one GET) when it did not."""
        current = self._snapshot
        if current.version and await self._registry.stamp() == (current.epoch, current.version):
            return current
        (epoch, version), records = await self._registry.load()
        self._snapshot = Snapshot.build(version, records, epoch)
        return self._snapshot
