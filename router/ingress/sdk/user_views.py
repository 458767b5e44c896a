"""How a connected user and their accounts are shown to the SDK: the platform's documented shapes (§3.1, §3.2).

Pure functions of the registry snapshot. A credential's ``values`` (its tokens) are never shown; its ``config``
is shown in the platform's camelCase (``configuredWorkflows``, ``sharedSettings``), as it is written back.
"""

from __future__ import annotations

from typing import Any

from subscriptions.models import ConnectedUser, Credential, CredentialConfig, Integration, Project
from subscriptions.snapshot import Snapshot


def config_view(config: CredentialConfig) -> dict[str, Any]:
    return {
        "configuredWorkflows": {
            wf: {"enabled": c.enabled, "settings": dict(c.settings)}
            for wf, c in sorted(config.configured_workflows.items())
        },
        "sharedSettings": dict(config.shared_settings),
    }


def credential_view(credential: Credential) -> dict[str, Any]:
    """One credential as ``GET /sdk/credentials`` lists it (L1431–1460) with the members ``allCredentials`` adds
    (L1711–1753) that this project knows."""
    return {
        "id": credential.id,
        "dateDeleted": None,
        "projectId": credential.project,
        "integrationId": credential.integration,
        "personaId": credential.user,
        "config": config_view(credential.config),
        "isPreviewCredential": False,
        "providerId": credential.provider_id,
        "providerData": dict(credential.provider_data),
        "status": credential.status,
    }


def credentials_of(snapshot: Snapshot, project: str, user: str) -> list[Credential]:
    """The user's credentials in ``project``, by id (the order "the first account available" refers to)."""
    return sorted(
        (c for c in snapshot.credentials.values() if c.user == user and c.project == project), key=lambda c: c.id
    )


def _integration_view(integration: Integration, credentials: list[Credential]) -> dict[str, Any]:
    if not credentials:
        return {"configuredWorkflows": {}, "enabled": False}
    # The account the platform summarises: the first VALID one, else the first (as routing picks it).
    primary = next((c for c in credentials if c.status == "VALID"), credentials[0])
    return {
        "enabled": integration.enabled,
        "configuredWorkflows": config_view(primary.config)["configuredWorkflows"],
        "credentialId": primary.id,
        "credentialStatus": primary.status,
        "providerId": primary.provider_id,
        "providerData": dict(primary.provider_data),
        "allCredentials": [credential_view(c) for c in credentials],
    }


def user_view(snapshot: Snapshot, project: Project, user: ConnectedUser) -> dict[str, Any]:
    """``GET /sdk/me`` (L1001–1028, L2481–2502): every integration of the project, keyed by its type (by its id
    when another integration of the project already has that type), with the user's accounts of it."""
    mine = credentials_of(snapshot, project.id, user.id)
    integrations: dict[str, Any] = {}
    for integration in sorted(snapshot.integrations.values(), key=lambda i: i.id):
        if integration.project != project.id:
            continue
        name = integration.type if integration.type not in integrations else integration.id
        integrations[name] = _integration_view(integration, [c for c in mine if c.integration == integration.id])
    return {"authenticated": True, "userId": user.id, "integrations": integrations, "meta": dict(user.metadata)}


def integrations_view(snapshot: Snapshot, project: Project, user: ConnectedUser) -> list[dict[str, Any]]:
    """``GET /sdk/integrations`` (L1369–1423): the project's integrations with the members this project knows, and
    the deployed workflows of each that the user's metadata permits (Workflow Permissions hide the others)."""
    mine = {c.integration for c in credentials_of(snapshot, project.id, user.id)}
    out = []
    for integration in sorted(snapshot.integrations.values(), key=lambda i: i.id):
        if integration.project != project.id:
            continue
        workflows = sorted(
            (
                w
                for w in snapshot.by_integration.get(integration.id, [])
                if w.deployed and snapshot.is_permitted(w, user.id)
            ),
            key=lambda w: w.id,
        )
        out.append(
            {
                "id": integration.id,
                "projectId": project.id,
                "customIntegrationId": None,
                "type": integration.type,
                "isActive": integration.enabled,
                "workflows": [
                    {"id": w.id, "description": w.name, "projectId": project.id, "integrationId": w.integration}
                    for w in workflows
                ],
                "customIntegration": None,
                "hasCredential": integration.id in mine,
                # The Connect Portal's display fields, as ``GET /sdk/metadata`` gives them for the type.
                "name": display_name(integration),
                "brandColor": integration.display.brand_color,
                "providerType": integration.type,
            }
        )
    return out


def display_name(integration: Integration) -> str:
    """The name the Connect Portal shows: the record's ``display.name``, else its type title cased (``hubspot``
    reads ``Hubspot``, as the platform's own example; ``custom.acme-crm`` reads ``Acme Crm``)."""
    if integration.display.name:
        return integration.display.name
    return integration.type.removeprefix("custom.").replace("-", " ").replace("_", " ").title()


def metadata_view(snapshot: Snapshot, project: Project) -> list[dict[str, Any]]:
    """``GET /sdk/metadata`` (L936–965): one entry per integration type of the project, ``{type, name, brandColor,
    icon}``; the display fields the integration record holds, ``null`` when it holds none. Two integrations of one
    type: the first by id speaks for the type."""
    out: dict[str, dict[str, Any]] = {}
    for integration in sorted(snapshot.integrations.values(), key=lambda i: i.id):
        if integration.project == project.id and integration.type not in out:
            out[integration.type] = {
                "type": integration.type,
                "name": display_name(integration),
                "brandColor": integration.display.brand_color,
                "icon": integration.display.icon,
            }
    return list(out.values())
