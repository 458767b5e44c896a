"""``hookrouter send PROVIDER`` → ``hookrouter events show``: every provider a secret can sign, its sample event
(``verifiers.samples``) signed with its integration's secret by ``verifiers.sign_request``, through one served app
(its workers running) and real Redis, then found stored and routed under the sample's provider id and event type.

The round trips run the commands in-process (Typer's runner: the same command, its settings from the environment);
a few run as real subprocesses, as a user would, and so do the one-line refusals.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import verifiers
from router.cli.main import cli
from router.runtime.process import build_registry, connect
from router.settings import Settings
from subscriptions.config import apply
from subscriptions.models import RECORD_TYPES, activation_id
from tests.router.conftest import make_settings
from tests.router.live import serve
from tests.router.test_cli import hookrouter
from tests.router.test_cli_habits import one_line, store_env
from tests.verifiers.catalog_samples import SECRETS
from verifiers import samples

PREFIX = "sendtest"
SECRET = "send-test-secret-0123456789abcdef"
WHSEC = "whsec_" + base64.b64encode(b"send-test-standard-webhooks-key!").decode()
# Secrets of a shape other than a plain string; the catalog's come from its test samples.
SHAPED = {
    **SECRETS,
    "box": ("send-primary-key-0123456789", "send-secondary-key-0123456789"),
    "close": ("ab" * 32,),
    "pipedrive": ("hookrouter:send-pass-word",),
    "standard_webhooks": (WHSEC,),
    "svix": (WHSEC,),
}
SENDABLE = [name for name in samples.names() if not samples.spec(name).provider_signs]
PROVIDER_SIGNED = [name for name in samples.names() if samples.spec(name).provider_signs]
SUBPROCESS = {"slack", "github", "twilio"}


def secrets(name: str) -> list[str]:
    return list(SHAPED.get(name, SHAPED.get(samples.ALIASES.get(name, ""), (SECRET,))))


def records(names: list[str]) -> list[object]:
    """Per provider: an integration, a user's credential on the sample's tenant, a workflow on every event."""
    out: list[object] = []
    for name in names:
        tenant = samples.spec(name).tenant
        items: list[tuple[str, dict[str, Any]]] = [
            ("integration", {"id": f"{name}-app", "type": name, "secrets": secrets(name)}),
            ("user", {"id": f"u-{name}"}),
            (
                "credential",
                {
                    "id": f"cred-{name}",
                    "user": f"u-{name}",
                    "integration": f"{name}-app",
                    "provider_id": tenant or None,
                },
            ),
            ("workflow", {"id": f"wf-{name}", "name": "Any event", "integration": f"{name}-app", "trigger": "*"}),
            (
                "activation",
                {"id": activation_id(f"wf-{name}", f"u-{name}"), "workflow": f"wf-{name}", "user": f"u-{name}"},
            ),
        ]
        out += [RECORD_TYPES[kind].model_validate({"project": "p1", **data}) for kind, data in items]
    return out


async def seed_all(settings: Settings) -> None:
    redis = connect(settings)
    try:
        await apply(build_registry(settings, redis), records([*SENDABLE, *PROVIDER_SIGNED]))  # type: ignore[arg-type]
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def served(redis_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """One app with its workers for the module, every provider's integration seeded; (base URL, CLI env)."""
    settings = make_settings(redis_url, run_workers=True, consumer_name="send", prefix=PREFIX, registry_refresh_s=1.0)
    asyncio.run(seed_all(settings))
    env = store_env(redis_url, HOOKROUTER_PUBLIC_URL=settings.public_url, HOOKROUTER_PREFIX=PREFIX)
    with serve(settings) as base:
        yield base, env


def document(output: str) -> Any:
    """The command's JSON document: the served app shares this process, and its log lines go to the same stdout."""
    return json.loads("\n".join(line for line in output.splitlines() if not line.startswith('{"ts":')))


def send_in_process(name: str, base: str, env: dict[str, str]) -> dict[str, object]:
    by_url = [] if samples.spec(name).tenant else ["--credential", f"cred-{name}"]  # no tenant: the user's URL
    result = CliRunner().invoke(cli, ["send", name, "--url", base, "--wait-s", "20", "--json", *by_url], env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    answer: dict[str, object] = document(result.stdout)
    return answer


def shown_when_routed(event_id: str, env: dict[str, str]) -> dict[str, Any]:
    """``events show ID --json`` once the workers have routed it (send waited already, except for Xero)."""
    deadline = time.monotonic() + 20
    while True:
        shown = CliRunner().invoke(cli, ["events", "show", event_id, "--json"], env=env)
        assert shown.exit_code == 0, shown.output
        detail: dict[str, Any] = document(shown.stdout)
        if detail["routing"]["status"] != "received" or time.monotonic() > deadline:
            return detail
        time.sleep(0.1)


@pytest.mark.parametrize("name", SENDABLE)
def test_send_then_events_show_round_trip(name: str, served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = served
    spec = samples.spec(name)
    if name in SUBPROCESS:
        by_url = [] if spec.tenant else ["--credential", f"cred-{name}"]
        sent = hookrouter("send", name, "--url", base, "--wait-s", "20", "--json", *by_url, env=env, cwd=tmp_path)
        assert sent.returncode == 0, sent.stdout + sent.stderr
        answer = json.loads(sent.stdout)
    else:
        answer = send_in_process(name, base, env)
    assert answer["status"] == 200 and answer["provider_id"] == spec.tenant, answer
    assert answer["event_type"] == spec.event_type
    events = answer["events"]
    assert isinstance(events, list)
    if verifiers.Inbound(name, secrets=[], headers={}, body=b"").empty_responses:
        # Xero's replies carry no body, so no ids: the event is found through the index, as send's hint says.
        assert events == [] and answer["answer"] == "", answer
        listed = CliRunner().invoke(cli, ["events", "list", "--integration", f"{name}-app", "--json"], env=env)
        event_id = document(listed.stdout)["data"][0]["id"]
    else:
        assert len(events) == 1, answer
        routing = events[0]["routing"]
        assert routing["status"] == "matched", answer
        assert [(j["workflow"], j.get("credential")) for j in routing["jobs"]] == [(f"wf-{name}", f"cred-{name}")]
        event_id = events[0]["id"]
    detail = shown_when_routed(event_id, env)
    assert (detail["integration"], detail["provider_id"]) == (f"{name}-app", spec.tenant)
    assert detail["event_type"] == spec.event_type
    assert detail["routing"]["status"] == "matched"
    assert [j["workflow"] for j in detail["jobs"]] == [f"wf-{name}"]


def test_every_signable_provider_has_a_sample() -> None:
    assert samples.names() == verifiers.signable()
    assert set(SUBPROCESS) <= set(SENDABLE)


@pytest.mark.parametrize("name", PROVIDER_SIGNED)
def test_a_provider_that_signs_with_its_own_key_is_refused_in_one_line(
    name: str, served: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = served
    line = one_line(hookrouter("send", name, "--url", base, env=env, cwd=tmp_path))
    why = samples.spec(name).provider_signs
    assert line == (f"hookrouter: cannot sign a {name} event: {why}; send one from {name}'s own dashboard or test tool")


def test_send_text_output_names_the_event_and_its_routing(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = served
    sent = hookrouter("send", "stripe", "--url", base, "--wait-s", "20", env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    status, event_line = sent.stdout.splitlines()[:2]
    assert status.startswith("200 "), sent.stdout
    assert event_line.endswith("  matched: 1 job(s): wf-stripe (cred-stripe)"), sent.stdout
    assert "(stripe customer.created for provider id acct_1)" in sent.stderr


def test_send_says_what_is_wrong_in_one_line(served: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    base, env = served
    unknown = hookrouter("send", "nope", env=env, cwd=tmp_path)
    assert one_line(unknown) == "hookrouter: Invalid value for PROVIDER: unknown provider 'nope'"
    fixed = hookrouter("send", "gitlab", "--url", base, "--event-type", "push", env=env, cwd=tmp_path)
    assert one_line(fixed) == (
        "hookrouter: the gitlab sample is a merge_request.open event; its payload fixes the event type: give "
        "--body FILE for another"
    )
    missing = hookrouter("send", "slack", "--url", base, "--integration", "nope", env=env, cwd=tmp_path)
    assert one_line(missing) == "hookrouter: no integration 'nope' in the registry"


def test_send_with_no_integration_of_that_type_says_so(redis_url: str, tmp_path: Path) -> None:
    env = store_env(redis_url, HOOKROUTER_PREFIX="sendtest-empty")
    none = hookrouter("send", "slack", "--url", "http://127.0.0.1:9", env=env, cwd=tmp_path)
    assert one_line(none) == "hookrouter: no integration of type slack in the registry (hookrouter apply adds one)"
