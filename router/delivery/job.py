"""Job: a trigger job as its consumer holds it, the delivery worker and a workflow runner alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from router.storage.entries import TRIGGER_JOB_FIELDS, TriggerJob
from router.storage.store import StoredEvent


@dataclass
class Job:
    """A job taken from a stream: ``entry_id`` is its entry there (what gets acked), ``entry`` its fields.

    The delivery worker also keeps its attempt history here while it delivers (``attempts``, parsed once from the
    entry) and whether its fields came from its hash (``stored``: a job the scheduled set gave back, whose hash
    holds its fields already, so a reschedule rewrites only the attempts).
    """

    entry_id: str
    entry: TriggerJob
    stored: bool = False
    attempts: list[dict[str, Any]] = field(init=False)

    def __post_init__(self) -> None:
        try:
            self.attempts = list(json.loads(self.entry.attempts or b"[]"))
        except (ValueError, TypeError):  # an unreadable history does not stop the job: it starts afresh
            self.attempts = []

    @classmethod
    def read(cls, event: StoredEvent, *, stored: bool = False) -> Job:
        """The job in a stream entry (or a job hash's fields under the entry's id). Raises MalformedEntry."""
        return cls(event.id, TriggerJob.from_fields(event.fields, event.id), stored)

    @property
    def id(self) -> str:
        """What the job is known by: its ``job_id`` (the entry id for a job written without one)."""
        return self.entry.key(self.entry_id)

    @property
    def job_id(self) -> str:
        return self.entry.job_id

    @property
    def execution_id(self) -> str:
        """The job's id: the execution id Request trigger callers, Task History and workflow_failure share. A job
        routed before that carries the id its caller was given then."""
        return self.entry.execution_id or self.id

    @property
    def body(self) -> bytes:
        return self.entry.body

    @property
    def user_settings(self) -> dict[str, Any]:
        """The account's User Settings routing found for the workflow: ``{"settings": {...}, "sharedSettings":
        {...}}``, each member only when not empty; ``{}`` when there are none (or for a job routed before jobs
        carried them). ``settings_omitted`` says when they were too large to carry."""
        try:
            value = json.loads(self.entry.user_settings or "{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    @property
    def settings_omitted(self) -> bool:
        """True when the settings were over ``router.routing.user_settings.MAX_BYTES``: read them from the
        registry (the admin API's credential) instead."""
        return self.entry.user_settings_omitted == "too_large"

    def json(self) -> Any:
        """The body parsed as JSON (App Events, Request triggers, JSON webhooks)."""
        return json.loads(self.body)

    def text(self, name: str) -> str:
        """A field as text, for runners that read fields by name. An unknown name raises AttributeError."""
        if name not in TRIGGER_JOB_FIELDS:
            raise AttributeError(f"a trigger job has no field {name!r}")
        value = getattr(self.entry, name)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return "" if value is None else str(value)
