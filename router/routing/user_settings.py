"""User Settings in a trigger job: what the account's ``config`` holds for the workflow, so a runner need not
read the registry.

The platform keeps a user's settings on their account: per workflow (``configuredWorkflows[<id>].settings``) and
shared by every workflow of the account (``sharedSettings``). A job carries both as one JSON object,
``{"settings": {...}, "sharedSettings": {...}}``, each member only when not empty, and nothing when both are.
Past ``MAX_BYTES`` of JSON the job carries ``user_settings_omitted: too_large`` instead: a job is stored with
every retry and dead letter, and a runner that needs such settings reads them from the registry.
"""

from __future__ import annotations

import json
from typing import Any

from subscriptions.models import Credential

MAX_BYTES = 64 * 1024


def for_job(credential: Credential | None, workflow: str) -> tuple[str, str]:
    """The job's ``user_settings`` and ``user_settings_omitted``: ``credential``'s settings for ``workflow``."""
    if credential is None:
        return "", ""
    config = credential.config
    configured = config.configured_workflows.get(workflow)
    doc: dict[str, Any] = {}
    if configured is not None and configured.settings:
        doc["settings"] = configured.settings
    if config.shared_settings:
        doc["sharedSettings"] = config.shared_settings
    if not doc:
        return "", ""
    # default=str: a config file's YAML may hold dates, which JSON has no type for.
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False, sort_keys=True, default=str)
    if len(text.encode()) > MAX_BYTES:
        return "", "too_large"
    return text, ""
