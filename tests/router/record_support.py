"""A project to write records into, and a sample body of each kind, for the /api/projects tests."""

from __future__ import annotations

from typing import Any

from tests.router.conftest import ADMIN_TOKEN, SLACK_SECRET, Seed, seed_slack

OPERATOR = {"authorization": f"Bearer {ADMIN_TOKEN}"}
BASE = "/api/projects/p1"

# Every secret a sample holds: none may appear in any answer.
SECRETS = (
    "gh-signing-SECRET-1",
    "xoxb-credential-SECRET",
    "cw-definition-SECRET",
    "rc-connection-SECRET",
    "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0",
    "sink-path-SECRET",
    "header-rule-SECRET",
    SLACK_SECRET,
)

# segment → (a new record's body, a merge patch of it, the field the patch changes and its new value)
SAMPLES: dict[str, tuple[dict[str, Any], dict[str, Any], str, Any]] = {
    "integrations": (
        {"id": "gh", "type": "github", "secrets": ["gh-signing-SECRET-1"]},
        {"enabled": False},
        "enabled",
        False,
    ),
    "users": ({"id": "u3", "metadata": {"email": "ada@example.com"}}, {"disabled": True}, "disabled", True),
    "credentials": (
        {
            "id": "cred-new",
            "user": "u2",
            "integration": "slack-app",
            "provider_id": "T0002",
            "values": {"access_token": "xoxb-credential-SECRET"},
        },
        {"status": "INVALID"},
        "status",
        "INVALID",
    ),
    "workflows": (
        {
            "id": "wf-http",
            "integration": "slack-app",
            "trigger": "*",
            "target": {
                "type": "http",
                "url": "https://sink.example.com/sink-path-SECRET",
                "secrets": ["whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"],
            },
            "request": {"header_validations": [{"key": "x-token", "value": "header-rule-SECRET"}]},
        },
        {"name": "renamed"},
        "name",
        "renamed",
    ),
    "activations": ({"workflow": "wf-1", "user": "u2"}, {"enabled": False}, "enabled", False),
    "custom-webhooks": (
        {
            "id": "cw",
            "integration": "slack-app",
            "level": "user",
            "verification": {"none": True},
            "secrets": ["cw-definition-SECRET"],
        },
        {"name": "Custom"},
        "name",
        "Custom",
    ),
    "api-resources": (
        {"id": "res2", "name": "Orders", "base_url": "https://api.example.com"},
        {"name": "Orders v2"},
        "name",
        "Orders v2",
    ),
    "resource-connections": (
        {"id": "rc", "user": "u1", "api_resource": "res", "values": {"api_key": "rc-connection-SECRET"}},
        {"provider_id": "tenant-9"},
        "provider_id",
        "tenant-9",
    ),
}


async def seed_project(seed: Seed) -> None:
    """Projects p1 and p2; in p1 the Slack integration, users u1 and u2, cred-u1, wf-1 active for u1, an API
    resource ``res``."""
    await seed_slack(seed)
    await seed(project=[{"id": "p1"}, {"id": "p2"}], user=[{"id": "u2"}], api_resource=[{"id": "res"}])


def record_id(segment: str) -> str:
    body = SAMPLES[segment][0]
    return str(body.get("id") or f"{body['workflow']}:{body['user']}")


def assert_no_secret(text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"secrets in an answer: {leaked}"
