"""Provider-side webhook subscriptions as data: one module per provider API, each a table of
``SubscriptionSpec`` by integration type and trigger name. ``lifecycle`` executes them through an
injected ``httpx.AsyncClient``; nothing here does I/O."""

from __future__ import annotations

from subscriptions.models import Integration, Workflow
from subscriptions.providers import clickup, microsoft_graph
from subscriptions.providers.spec import RequestTemplate, SubscriptionSpec, TemplateError

__all__ = ["API_BASES", "SPECS", "RequestTemplate", "SubscriptionSpec", "TemplateError", "builtin_spec"]

API_BASES: dict[str, str] = {
    "graph": "https://graph.microsoft.com/v1.0",
    "clickup": "https://api.clickup.com/api/v2",
}

SPECS: dict[str, dict[str, SubscriptionSpec]] = {**microsoft_graph.SPECS, **clickup.SPECS}


def builtin_spec(integration: Integration, workflow: Workflow) -> SubscriptionSpec | None:
    """The subscription an integration-triggered workflow needs, if its integration type has one.

    A trigger name with its own entry uses it; any other trigger (another name, ``event:<type>``, ``*``)
    falls back to the type's ``*`` entry, when there is one.
    """
    if workflow.trigger_type != "integration":
        return None
    table = SPECS.get(integration.type, {})
    return table.get(workflow.trigger) or table.get("*")
