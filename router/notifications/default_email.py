"""The default email destination every project has for its workflow failures.

The platform gives each project "an Email Destination for Workflow Failure events, using the email address of
the user that created the project" (platform-api.md §5.2). The router knows no project creators, so the
address comes from the settings (``HOOKROUTER_FAILURE_EMAIL``); with it set, every project in the registry has
an email destination ``default-email:<project id>`` taking ``workflow_failure``, without a record.

A registry record under that id replaces the default, as editing or deleting the platform's default does:
``enabled: false`` turns it off for that project, another ``to`` sends elsewhere. The fan-out and the sender
both look destinations up here, so a job for the default finds it again when it is delivered.
"""

from __future__ import annotations

from dataclasses import dataclass

from subscriptions.destinations import Destination
from subscriptions.snapshot import Snapshot

__all__ = ["ID_PREFIX", "ProjectDestinations"]

ID_PREFIX = "default-email:"
EVENT_TYPES = ["workflow_failure"]


@dataclass(frozen=True, slots=True)
class ProjectDestinations:
    """A project's destinations: its registry records, plus the default email destination when one is set."""

    failure_email: tuple[str, ...] = ()

    def default_for(self, snapshot: Snapshot, project: str) -> Destination | None:
        """The project's default email destination: None without addresses, for an unknown project, or when a
        record of the same id replaces it."""
        destination_id = ID_PREFIX + project
        if not self.failure_email or project not in snapshot.projects or destination_id in snapshot.destinations:
            return None
        # model_construct: a project id of 128 characters makes an id longer than a record's; this one is never
        # stored, and its fields come from checked settings and a registry project.
        return Destination.model_construct(
            id=destination_id,
            project=project,
            name="Workflow failures by email",
            type="email",
            to=list(self.failure_email),
            event_types=list(EVENT_TYPES),
        )

    def wanting(self, snapshot: Snapshot, project: str, event_type: str) -> list[Destination]:
        """The enabled destinations of ``project`` that take ``event_type``."""
        found = snapshot.destinations_for(project, event_type)
        default = self.default_for(snapshot, project)
        if default is not None and default.wants(event_type):
            found.append(default)
        return found

    def get(self, snapshot: Snapshot, destination_id: str) -> Destination | None:
        found = snapshot.destinations.get(destination_id)
        if found is None and destination_id.startswith(ID_PREFIX):
            return self.default_for(snapshot, destination_id.removeprefix(ID_PREFIX))
        return found
