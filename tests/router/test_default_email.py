"""The default email destination for workflow failures (platform-api.md §5.2), end to end: a runner's failure
report over HTTP → workflow_failure → fan-out → an email on a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from router.notifications.default_email import ProjectDestinations
from router.settings import Settings
from router.storage.keys import Keys
from subscriptions.models import Project
from subscriptions.snapshot import Snapshot
from tests.router.conftest import ADMIN_TOKEN, Seed, make_settings, running, xrange_all
from tests.router.test_destination_email import Mailbox, smtp_server
from tests.router.waiting import eventually

pytestmark = pytest.mark.anyio
KEYS = Keys()
AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}
OWNER = "owner@example.test"


def worker_settings(redis_url: str, port: int, **overrides: Any) -> Settings:
    return make_settings(
        redis_url,
        run_workers=True,
        route_block_ms=20,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_starttls=False,
        smtp_from="alerts@hookrouter.test",
        failure_email=OWNER,
        **overrides,
    )


async def seed_projects(seed: Seed) -> None:
    """p1 keeps the default; p2 replaces it with a record of its id, switched off."""
    await seed(
        project=[{"id": "p1", "name": "Test Project Name"}, {"id": "p2", "name": "Quiet"}],
        integration=[{"id": "slack-app", "type": "slack"}, {"id": "slack-2", "project": "p2", "type": "slack"}],
        user=[{"id": "u1"}, {"id": "u2", "project": "p2"}],
        workflow=[
            {"id": "wf-1", "name": "Test Workflow Name", "integration": "slack-app"},
            {"id": "wf-2", "project": "p2", "name": "Other", "integration": "slack-2"},
        ],
        destination=[
            {"id": "default-email:p2", "project": "p2", "type": "email", "to": [OWNER], "enabled": False},
        ],
    )


async def test_a_workflow_failure_is_emailed_to_the_default_address(redis_url: str, redis: Redis, seed: Seed) -> None:
    await seed_projects(seed)
    mailbox = Mailbox()
    report = {"workflow": "wf-1", "user": "u1", "error": "Test error message", "step": {"stepId": "s1"}}
    async with smtp_server(mailbox) as port, running(worker_settings(redis_url, port)) as http:
        quiet = await http.post(
            "/api/executions/exec-2/failure", headers=AUTH, json={**report, "workflow": "wf-2", "user": "u2"}
        )
        loud = await http.post("/api/executions/exec-1/failure", headers=AUTH, json=report)
        await eventually(lambda: _some(mailbox), what="the default destination's email")
        # p2's failure was fanned out first (reported first): by now it has had its chance to make a job.
        jobs = [f[b"destination"] for _, f in await xrange_all(redis, KEYS.delivery_jobs)]
    assert (quiet.status_code, loud.status_code) == (202, 202)
    assert jobs == [b"default-email:p1"]  # p2's record replaced the default with a disabled one
    [envelope] = mailbox.received
    assert envelope.rcpt_tos == [OWNER]
    [message] = mailbox.messages()
    assert message["Subject"] == (
        "[hookrouter] workflow_failure: Workflow \u201cTest Workflow Name\u201c failed for User u1"
    )
    events = [json.loads(f[b"event"]) for _, f in await xrange_all(redis, KEYS.notifications)]
    assert {e["data"]["workflowExecution"]["id"] for e in events} == {"exec-1", "exec-2"}


async def _some(mailbox: Mailbox) -> bool:
    return bool(mailbox.received)


def test_the_default_takes_workflow_failures_of_known_projects_only() -> None:
    snapshot = Snapshot.build(1, {})
    defaults = ProjectDestinations(("a@example.test",))
    assert defaults.wanting(snapshot, "p1", "workflow_failure") == []  # no such project
    assert ProjectDestinations().get(snapshot, "default-email:p1") is None
    known = Snapshot.build(1, {"project": [Project(id="p1")]})
    [default] = defaults.wanting(known, "p1", "workflow_failure")
    assert (default.id, default.type, default.to, default.event_types) == (
        "default-email:p1",
        "email",
        ["a@example.test"],
        ["workflow_failure"],
    )
    assert defaults.wanting(known, "p1", "credentials_failure") == []
    assert defaults.get(known, "default-email:p1") == default and defaults.get(known, "default-email:p2") is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"failure_email": OWNER}, "needs HOOKROUTER_SMTP_HOST"),
        ({"failure_email": "ops@example.test owner@example.test", "smtp_host": "mx"}, "is not an email address"),
    ],
)
def test_a_default_address_that_cannot_work_stops_the_start(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**overrides)
