"""Provider-side subscriptions of custom webhook definitions with ``setup: api_request``.

A ``lifecycle.HolderSource``: one subscription per (credential, definition) for definitions attached to an
integration, and per (resource connection, definition) for API-resource ones, while the holder's user has at
least one deployed, activated workflow on the definition. The lifecycle creates it with the definition's
``subscription`` spec and deletes it with the last such workflow, or when the credential or connection goes.

A connection is presented to the lifecycle as a credential: ``{{credential.id}}`` is the connection id,
``{{credential.<value>}}`` its sealed values, ``{{integration.id}}`` the API resource id (``integration.type``
is ``api_resource``), and ``{{resource.base_url}}`` the resource's base URL. The secret a provider returns is
filed under ``secrets_owner(definition id)``, so it vouches only for that definition's user-level URL.
"""

from __future__ import annotations

from collections.abc import Iterator

from subscriptions.custom import ApiResource, ResourceConnection
from subscriptions.lifecycle import Desired, usable
from subscriptions.models import Credential, Integration
from subscriptions.providers.spec import SubscriptionSpec
from subscriptions.snapshot import Snapshot

RESOURCE_TYPE = "api_resource"


def secrets_owner(definition_id: str) -> str:
    """What a definition's subscription secrets are filed under (``StateStore.secrets_for``)."""
    return f"custom:{definition_id}"


def _specs(snapshot: Snapshot, owner: str, user: str, *, resource: bool) -> Iterator[tuple[str, SubscriptionSpec]]:
    """(definition id, spec) of each api_request definition of ``owner`` that ``user`` has a deployed,
    activated workflow on; once each, however many workflows use it."""
    seen: set[str] = set()
    for wf in snapshot.by_integration.get(owner, []):
        if wf.trigger_type != "custom" or wf.trigger in seen or not wf.deployed:
            continue
        definition = snapshot.custom_webhooks.get(wf.trigger)
        if definition is None or definition.subscription is None:
            continue
        if (definition.api_resource if resource else definition.integration) != owner:
            continue
        if snapshot.is_activated(wf.id, user):
            seen.add(wf.trigger)
            yield definition.id, definition.subscription


def _as_credential(conn: ResourceConnection) -> Credential:
    return Credential(
        id=conn.id,
        project=conn.project,
        user=conn.user,
        integration=conn.api_resource,
        provider_id=conn.provider_id,
        values=conn.values,
    )


def _as_integration(resource: ApiResource) -> Integration:
    # Not a catalog type, so not validated as one: this stands in for the resource only inside the lifecycle.
    return Integration.model_construct(id=resource.id, project=resource.project, type=RESOURCE_TYPE)


def custom_subscriptions(snapshot: Snapshot) -> Iterator[Desired]:
    """Every custom definition subscription that should exist now (see the module docstring)."""
    for cred in snapshot.credentials.values():
        integration = usable(snapshot, cred)
        if integration is None:
            continue
        for definition_id, spec in _specs(snapshot, integration.id, cred.user, resource=False):
            yield Desired(cred, integration, spec, owner=secrets_owner(definition_id))
    for conn in snapshot.resource_connections.values():
        resource = snapshot.api_resources.get(conn.api_resource)
        user = snapshot.users.get(conn.user)
        if resource is None or user is None or user.disabled:
            continue
        specs = list(_specs(snapshot, resource.id, conn.user, resource=True))
        if not specs:
            continue
        credential, integration = _as_credential(conn), _as_integration(resource)
        context = {"resource.base_url": resource.base_url.rstrip("/"), "resource.id": resource.id}
        for definition_id, spec in specs:
            yield Desired(credential, integration, spec, owner=secrets_owner(definition_id), context=context)
