"""Event destinations: a failure event turned into the HTTP request one destination expects.

``render(destination, event, now=...)`` dispatches on ``destination.template``:

- ``webhook``: the destination's URL, headers and payload template (``router.notifications.destinations.webhook``
  documents the ``{{$.event.message}}`` reference language);
- ``slack``: a Block Kit message to an incoming webhook;
- ``datadog``: one log to the Logs intake API v2;
- ``newrelic``: one log to the Log API (US or EU);
- ``sentry``: an error event to the store or the envelope endpoint.

Everything here is pure: no I/O, no logging. Secrets (the URL, header values) are read from the
destination at render time, go only where the vendor expects them, and are never in an exception:
``RenderError`` names the field at fault. ``validate(destination)`` renders a sample event and is called
when a destination is saved, so a destination that cannot produce a request is refused then. Email
destinations are not HTTP requests: ``validate`` accepts them and ``render`` refuses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

from router.notifications.destinations import datadog, newrelic, sentry, slack, webhook
from router.notifications.destinations.webhook import Rendered, RenderError
from subscriptions.destinations import Destination

__all__ = ["SAMPLE_EVENT", "SAMPLE_NOW", "RenderError", "Rendered", "render", "validate"]


class Renderer(Protocol):
    def __call__(self, destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered: ...


_RENDERERS: Final[dict[str, Renderer]] = {
    "webhook": webhook.render,
    "slack": slack.render,
    "datadog": datadog.render,
    "newrelic": newrelic.render,
    "sentry": sentry.render,
}

# The platform's documented workflow_failure (platform-api.md §3.8), used to check a destination when it
# is saved; every field a template reads is present.
SAMPLE_NOW: Final = 1729629642.607
SAMPLE_EVENT: Final[Mapping[str, Any]] = {
    "type": "workflow_failure",
    "timestamp": 1729629642607,
    "timestampISO": "2024-10-22T20:40:42.607Z",
    "message": "Workflow \u201cTest Workflow Name\u201c failed for User user-1",
    "user": {"id": "user-1", "metadata": {}},
    "project": {"id": "613b038f-e9bf-49ec-bc58-ba8d620754c7", "name": "Test Project Name"},
    "integration": {"id": "57a96b31-c69e-421a-bb32-7a25f9c6a893", "type": "slack"},
    "workflow": {"id": "cae72d65-7fc6-4249-9047-48fc640bfd46", "name": "Test Workflow Name"},
    "data": {
        "type": "workflow_failure",
        "projectId": "613b038f-e9bf-49ec-bc58-ba8d620754c7",
        "workflowId": "cae72d65-7fc6-4249-9047-48fc640bfd46",
        "workflowExecution": {"id": "07911c9b-2006-4348-938b-b7ebac94dc1f"},
        "stepExecution": {
            "stepId": "3507a59f-d552-45a5-8bca-ed5315111ca0",
            "instanceId": "45ab5c3d-5ad3-46a0-9b79-692b4c06520d",
            "startTime": 1729629642606,
            "endTime": 1729629642606,
        },
        "timestamp": 1729629642606,
        "error": "Test error message",
        "executionUrl": "https://example.com/executions/07911c9b-2006-4348-938b-b7ebac94dc1f",
    },
}


def render(destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered:
    """The request that delivers ``event`` to ``destination``; ``RenderError`` if its config cannot."""
    if destination.type != "webhook":
        raise RenderError(f"a {destination.type} destination is not sent as an HTTP request")
    if not isinstance(event, Mapping):
        raise RenderError("an event is a JSON object")
    renderer = _RENDERERS.get(destination.template)
    if renderer is None:
        raise RenderError(f"unknown template {destination.template!r}; known: {', '.join(_RENDERERS)}")
    return renderer(destination, event, now=now)


def validate(destination: Destination) -> None:
    """Raise ``RenderError`` if ``destination`` cannot produce a request (checked when it is saved)."""
    if destination.type == "webhook":
        render(destination, SAMPLE_EVENT, now=SAMPLE_NOW)
