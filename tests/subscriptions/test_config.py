from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from subscriptions.config import apply, load
from subscriptions.crypto import SecretBox
from subscriptions.errors import ConfigError, SecretError, UnreadableRecord
from subscriptions.keys import RegistryKeys
from subscriptions.models import Activation, Integration, activation_id
from subscriptions.registry import Registry
from subscriptions.snapshot import Snapshot
from tests.verifiers import test_gmail

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
KEY = bytes(range(32))


@pytest.fixture
def registry(redis: Redis) -> Registry:
    return Registry(redis, SecretBox(KEY))


@pytest.mark.anyio
async def test_apply_twice_changes_nothing_the_second_time(registry: Registry) -> None:
    first = await apply(registry, load(EXAMPLE))
    version = await registry.version()
    second = await apply(registry, load(EXAMPLE))
    assert {c.action for c in first} == {"created"}
    assert [(c.kind, c.id) for c in first] == [(c.kind, c.id) for c in second]
    assert {c.action for c in second} == {"unchanged"}
    assert await registry.version() == version


@pytest.mark.anyio
async def test_a_changed_field_is_reported_as_updated(registry: Registry, tmp_path: Path) -> None:
    await apply(registry, load(EXAMPLE))
    edited = tmp_path / "c.yaml"
    edited.write_text(EXAMPLE.read_text().replace("quickstart-signing-secret", "rotated-secret"))
    changes = await apply(registry, load(edited))
    assert [(c.kind, c.id) for c in changes if c.action == "updated"] == [("integration", "slack-app")]
    stored = await registry.get("integration", "slack-app")
    assert isinstance(stored, Integration) and stored.secrets[0].get_secret_value() == "rotated-secret"


@pytest.mark.anyio
async def test_secrets_are_encrypted_at_rest(registry: Registry, redis: Redis) -> None:
    await apply(registry, load(EXAMPLE))
    raw = await redis.hget(RegistryKeys().records("integration"), "slack-app")
    assert raw is not None and b"quickstart-signing-secret" not in raw and b"hr2." in raw
    await registry.check_master_key()  # the first process to start leaves its key's mark
    other = Registry(redis, SecretBox(bytes(32)))
    with pytest.raises(UnreadableRecord) as info:
        await other.get("integration", "slack-app")
    assert info.value.reason == "undecryptable_secret"
    with pytest.raises(SecretError, match="cannot decrypt"):  # so a process with the wrong key refuses to start
        await other.check_master_key()


def test_secret_repr_is_masked() -> None:
    [_, integration, *_] = load(EXAMPLE)
    assert "quickstart-signing-secret" not in repr(integration) + str(integration)


def test_environment_variables_are_substituted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SECRET_FOR_TEST", "from-env")
    path = tmp_path / "c.yaml"
    path.write_text(EXAMPLE.read_text().replace('"quickstart-signing-secret"', '"${SLACK_SECRET_FOR_TEST}"'))
    integration = next(r for r in load(path) if isinstance(r, Integration))
    assert integration.secrets[0].get_secret_value() == "from-env"


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "project: {id: p}\n"
        "integrations:\n  - {id: i1, type: not-a-provider, secrets: ['${MISSING_VAR_FOR_TEST}']}\n"
        "users:\n  - {id: u1}\n"
        "credentials:\n  - {id: c1, user: ghost, integration: i1, status: BROKEN}\n"
        "workflows:\n  - {id: w1, integration: i1, activations: [u1]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    message = str(info.value)
    assert "MISSING_VAR_FOR_TEST is not set" in message
    assert "unknown integration type 'not-a-provider'" in message and "slack" in message
    assert "credentials[0].status" in message


@pytest.mark.parametrize("text", ["project: [", "- just a list\n", "project: {id: 'bad id!'}\n"])
def test_unparseable_files_raise_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load(path)


@pytest.mark.anyio
async def test_every_secret_field_is_sealed_and_round_trips(registry: Registry, redis: Redis) -> None:
    from subscriptions.models import Credential

    cred = Credential(
        id="c1",
        project="p",
        user="u1",
        integration="i1",
        provider_id="T1",
        values={"access_token": SecretStr("xoxb-token-value"), "refresh_token": SecretStr("refresh-value")},
    )
    assert await registry.put(cred) == "created"
    raw = await redis.hget(RegistryKeys().records("credential"), "c1")
    assert raw is not None and b"xoxb-token-value" not in raw and b"refresh-value" not in raw
    back = await registry.get("credential", "c1")
    assert isinstance(back, Credential) and back.values["access_token"].get_secret_value() == "xoxb-token-value"
    assert await registry.put(cred) == "unchanged"


URL_BOUND_FILE = """
project: {id: p}
integrations:
  - {id: tw, type: twilio, secrets: [auth-token]}
  - {id: gm, type: gmail, secrets: ["token=t0ken"]}
  - {id: sl, type: slack, secrets: [signing-secret]}
"""


@pytest.mark.parametrize("kind", ["twilio", "hubspot", "trello", "mandrill", "monday", "gong", "gmail"])
def test_a_url_signing_integration_without_a_public_url_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # Gmail's with a public key: a Pub/Sub token's audience then defaults to the public URL.
    monkeypatch.setenv("HOOK_SECRET", test_gmail.PEM if kind == "gmail" else "s3cret")
    path = tmp_path / "c.yaml"
    path.write_text(
        f"project: {{id: p}}\nintegrations:\n  - {{id: hook-1, type: {kind}, secrets: ['${{HOOK_SECRET}}']}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    assert f"integration 'hook-1': type {kind} signs its webhook URL" in str(info.value)
    assert "HOOKROUTER_PUBLIC_URL" in str(info.value) and "public_url" in str(info.value)
    load(path, public_url="https://hooks.example.com")  # the setting is enough


def test_an_integration_public_url_or_a_pinned_audience_is_enough(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        URL_BOUND_FILE.replace("secrets: [auth-token]}", "secrets: [auth-token], public_url: 'https://t.example'}")
    )
    records = load(path)  # gmail with URL tokens only and slack sign no host
    [twilio] = [r for r in records if isinstance(r, Integration) and r.id == "tw"]
    assert twilio.public_url == "https://t.example"


@pytest.mark.parametrize("bad", ["hooks.example.com", "ftp://h.example", "https://h.example/?x=1", "https://"])
def test_an_integration_public_url_must_be_an_absolute_base(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(URL_BOUND_FILE.replace("secrets: [auth-token]}", f"secrets: [a], public_url: '{bad}'}}"))
    with pytest.raises(ConfigError, match="public_url"):
        load(path)


def test_activations_whose_ids_coincide_are_refused(tmp_path: Path) -> None:
    # The id joins workflow and user with ':': "w:x" for "u" and "w" for "x:u" would be one record, the second
    # silently replacing the first.
    path = tmp_path / "c.yaml"
    path.write_text(
        "project: {id: p}\n"
        "integrations: [{id: i, type: slack, secrets: [s]}]\n"
        "users: [{id: u}, {id: 'x:u'}]\n"
        "workflows:\n"
        "  - {id: 'w:x', integration: i, activations: [u]}\n"
        "  - {id: w, integration: i, activations: ['x:u']}\n"
    )
    with pytest.raises(ConfigError, match="activating user 'x:u' clashes with an activation of 'w:x'"):
        load(path)


def test_an_activation_counts_for_its_own_workflow_and_user_only() -> None:
    # Stored by an earlier apply: workflow "w:x" activated for user "u", under the id "w:x:u".
    record = Activation(id=activation_id("w:x", "u"), project="p", workflow="w:x", user="u")
    snapshot = Snapshot.build(1, {"activation": [record]})
    assert snapshot.is_activated("w:x", "u")
    assert not snapshot.is_activated("w", "x:u")  # the same joined id, another workflow and user
