"""`apply` with pruning, authoritative activations and named drops, against a real Redis."""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis

from subscriptions.config import apply, load, preview
from subscriptions.crypto import SecretBox
from subscriptions.errors import ConfigError, RegistryChanged
from subscriptions.keys import KINDS
from subscriptions.models import Activation, ConnectedUser, Credential, Integration, Workflow, activation_id
from subscriptions.plan import Change
from subscriptions.registry import Registry
from tests.clock import Clock
from tests.subscriptions.fake_provider import FakeProvider, serve_in_thread
from tests.subscriptions.test_lifecycle import T0, make_lifecycle

pytestmark = pytest.mark.anyio

KEY = bytes(range(32))

FULL = """
project: {id: demo, name: Demo}
integrations:
  - {id: slack-app, type: slack, secrets: [first-secret]}
users:
  - {id: user-1, metadata: {email: ada@example.com}, disabled: false}
  - {id: user-2}
credentials:
  - {id: cred-1, user: user-1, integration: slack-app, provider_id: T1}
workflows:
  - {id: wf-1, name: On message, integration: slack-app, trigger: Channel Message Sent, activations: [user-1, user-2]}
  - {id: wf-2, name: Everything, integration: slack-app, activations: [user-1]}
"""

# wf-2 and user-2 are gone, wf-1 no longer activates user-2 and lost its name; user-1's metadata, which the file
# omits, is kept.
SMALLER = """
project: {id: demo, name: Demo}
integrations:
  - {id: slack-app, type: slack, secrets: [first-secret]}
users:
  - {id: user-1}
credentials:
  - {id: cred-1, user: user-1, integration: slack-app, provider_id: T1}
workflows:
  - {id: wf-1, integration: slack-app, trigger: Channel Message Sent, activations: [user-1]}
"""


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return Registry(redis, SecretBox(KEY))


def config(tmp_path: Path, text: str, name: str = "c.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


async def snapshot(registry: Registry) -> dict[str, list[str]]:
    return {kind: sorted(str(r.model_dump()["id"]) for r in await registry.all(kind)) for kind in KINDS}


def deleted(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.kind, c.id) for c in changes if c.action == "deleted"]


async def test_prune_dry_run_lists_the_deletions_and_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    before, version = await snapshot(registry), await registry.version()
    plan = await preview(registry, load(config(tmp_path, SMALLER, "s.yaml")), prune=True)
    assert deleted(plan.changes) == [
        ("activation", activation_id("wf-1", "user-2")),
        ("activation", activation_id("wf-2", "user-1")),
        ("user", "user-2"),
        ("workflow", "wf-2"),
    ]
    assert await snapshot(registry) == before
    assert await registry.version() == version


async def test_prune_deletes_only_this_projects_unnamed_records_in_one_version_bump(
    registry: Registry, tmp_path: Path
) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    other = FULL.replace("id: demo", "id: other").replace("slack-app", "o-slack").replace("user-", "o-user-")
    other = other.replace("cred-1", "o-cred").replace("wf-", "o-wf-")
    await apply(registry, load(config(tmp_path, other, "o.yaml")))
    other_before = {k: [i for i in v if i.startswith(("o-", "other"))] for k, v in (await snapshot(registry)).items()}
    version = await registry.version()

    changes = await apply(registry, load(config(tmp_path, SMALLER, "s.yaml")), prune=True)

    assert await registry.version() == version + 1
    assert len(deleted(changes)) == 4
    after = await snapshot(registry)
    assert after["workflow"] == ["o-wf-1", "o-wf-2", "wf-1"]
    assert after["user"] == ["o-user-1", "o-user-2", "user-1"]
    assert after["activation"] == sorted([*other_before["activation"], activation_id("wf-1", "user-1")])
    assert {k: [i for i in v if i.startswith(("o-", "other"))] for k, v in after.items()} == other_before
    again = await apply(registry, load(config(tmp_path, SMALLER, "s.yaml")), prune=True)
    assert {c.action for c in again} == {"unchanged"}
    assert await registry.version() == version + 1


async def test_removing_a_user_from_activations_deactivates_on_a_plain_reapply(
    registry: Registry, tmp_path: Path
) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    fewer = FULL.replace("activations: [user-1, user-2]", "activations: [user-1]")
    changes = await apply(registry, load(config(tmp_path, fewer, "f.yaml")))
    assert deleted(changes) == [("activation", activation_id("wf-1", "user-2"))]
    assert await registry.get("activation", activation_id("wf-1", "user-2")) is None
    assert await registry.get("user", "user-2") is not None  # without --prune only the activation goes
    assert await registry.get("activation", activation_id("wf-2", "user-1")) is not None


async def test_an_activation_of_a_workflow_the_file_does_not_name_is_left_alone(
    registry: Registry, tmp_path: Path
) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    elsewhere = Activation(id=activation_id("wf-x", "user-1"), project="demo", workflow="wf-x", user="user-1")
    await registry.put(elsewhere)
    changes = await apply(registry, load(config(tmp_path, FULL)))
    assert deleted(changes) == []
    assert await registry.get("activation", elsewhere.id) == elsewhere


async def test_an_update_names_the_fields_it_drops_and_never_a_secret_value(registry: Registry, tmp_path: Path) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    rotated = SMALLER.replace("first-secret", "second-secret")
    changes = {(c.kind, c.id): c for c in (await preview(registry, load(config(tmp_path, rotated, "r.yaml")))).changes}
    assert changes["user", "user-1"].label == "unchanged (keeps: metadata)"
    assert changes["workflow", "wf-1"].label == "updated (drops: name)"
    disabled = SMALLER.replace("- {id: user-1}", "- {id: user-1, disabled: true}")
    steps = await preview(registry, load(config(tmp_path, disabled, "d.yaml")))
    [user] = [c for c in steps.changes if c.kind == "user" and c.id == "user-1"]
    assert (user.label, user.fields) == ("updated (keeps: metadata)", ("disabled",))
    integration = changes["integration", "slack-app"]
    assert (integration.label, integration.fields) == ("updated", ("secrets",))
    assert "second-secret" not in repr(list(changes.values())) and "first-secret" not in repr(list(changes.values()))
    assert changes["credential", "cred-1"].action == "unchanged"


async def test_secrets_armed_outside_the_file_are_kept_unless_the_file_names_secrets(
    registry: Registry, tmp_path: Path
) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    stored = await registry.get("integration", "slack-app")
    assert isinstance(stored, Integration)
    armed = [*stored.secrets, SecretStr("from-a-handshake")]
    await registry.put(stored.model_copy(update={"secrets": armed}))  # as the handshake activate route does
    silent = FULL.replace("secrets: [first-secret]", "enabled: true")
    changes = await apply(registry, load(config(tmp_path, silent, "n.yaml")))
    assert [c.action for c in changes if c.kind == "integration"] == ["unchanged"]
    kept = await registry.get("integration", "slack-app")
    assert isinstance(kept, Integration)
    assert [s.get_secret_value() for s in kept.secrets] == ["first-secret", "from-a-handshake"]
    await apply(registry, load(config(tmp_path, FULL)))  # naming secrets makes the file's list the list
    named = await registry.get("integration", "slack-app")
    assert isinstance(named, Integration) and [s.get_secret_value() for s in named.secrets] == ["first-secret"]


async def test_a_credentials_tokens_stored_through_the_api_survive_a_file_that_omits_them(
    registry: Registry, tmp_path: Path
) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    stored = await registry.get("credential", "cred-1")
    assert isinstance(stored, Credential)
    await registry.put(stored.model_copy(update={"values": {"access_token": SecretStr("tok")}}))
    changes = await apply(registry, load(config(tmp_path, FULL)))
    assert [c.action for c in changes if c.kind == "credential"] == ["unchanged"]
    kept = await registry.get("credential", "cred-1")
    assert isinstance(kept, Credential) and kept.values["access_token"].get_secret_value() == "tok"


async def test_an_invalid_file_writes_nothing(registry: Registry, tmp_path: Path) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    before, version = await snapshot(registry), await registry.version()
    bad = SMALLER.replace("integration: slack-app, trigger", "integration: nowhere, trigger")
    with pytest.raises(ConfigError, match="workflow 'wf-1': integration 'nowhere' is not defined"):
        await apply(registry, load(config(tmp_path, bad, "b.yaml")), prune=True)
    assert await snapshot(registry) == before and await registry.version() == version


async def test_a_change_landing_after_planning_is_not_overwritten(registry: Registry, tmp_path: Path) -> None:
    await apply(registry, load(config(tmp_path, FULL)))
    steps = await preview(registry, load(config(tmp_path, SMALLER, "s.yaml")), prune=True)
    stored = await registry.get("integration", "slack-app")
    assert isinstance(stored, Integration)
    await registry.put(stored.model_copy(update={"secrets": [*stored.secrets, SecretStr("armed-meanwhile")]}))
    before, version = await snapshot(registry), await registry.version()
    with pytest.raises(RegistryChanged):
        await registry.commit(steps.writes, steps.deletes, at_version=steps.version)
    assert await snapshot(registry) == before and await registry.version() == version
    await apply(registry, load(config(tmp_path, SMALLER, "s.yaml")), prune=True)  # planned again: it goes through
    assert await registry.get("workflow", "wf-2") is None


async def test_records_stored_by_the_previous_version_are_read_and_kept(registry: Registry, tmp_path: Path) -> None:
    # Written record by record, as apply did before: a re-apply sees them all unchanged.
    for record in load(config(tmp_path, FULL)):
        await registry.put(record)
    changes = await apply(registry, load(config(tmp_path, FULL)), prune=True)
    assert {c.action for c in changes} == {"unchanged"}


async def test_pruning_needs_the_project_record(registry: Registry) -> None:
    records: list[BaseModel] = [
        ConnectedUser(id="u", project="demo"),
        Workflow(id="w", project="demo", integration="i"),
    ]
    with pytest.raises(ValueError, match="exactly one project"):
        await preview(registry, records, prune=True)
    assert await registry.version() == 0


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_in_thread(FakeProvider()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


ONEDRIVE = """
project: {id: p1}
integrations:
  - {id: od-app, type: onedrive}
users:
  - {id: u1}
credentials:
  - {id: cred-u1, user: u1, integration: od-app, values: {access_token: tok-u1}}
workflows:
  - {id: wf-1, integration: od-app, trigger: File Change, activations: [u1]}
"""


async def test_a_user_removed_from_activations_loses_the_provider_subscription(
    registry: Registry, redis: Redis, http: httpx.AsyncClient, provider: FakeProvider, tmp_path: Path
) -> None:
    lifecycle = make_lifecycle(redis, registry, http, provider, Clock(T0))
    await apply(registry, load(config(tmp_path, ONEDRIVE)))
    assert await lifecycle.reconcile_once() == {"created": 1}
    assert len(provider.live) == 1
    await apply(registry, load(config(tmp_path, ONEDRIVE.replace("activations: [u1]", "activations: []"), "d.yaml")))
    assert await lifecycle.reconcile_once() == {"deleted": 1}
    [call] = provider.on("DELETE")
    assert call.path == "/graph/subscriptions/sub-1"
    assert provider.live == {}
