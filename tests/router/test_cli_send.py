"""``hookrouter send PROVIDER`` → ``hookrouter events show``: a sample event of every provider with a sample, signed
with its integration's secret by ``verifiers.sign_request``, through a served app (its workers running) and real
Redis, then found stored and routed under the provider id the sample carried."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from router.cli.samples import SPECS
from tests.router.conftest import Seed, make_settings
from tests.router.live import serve
from tests.router.test_cli import hookrouter
from tests.router.test_cli_habits import one_line, store_env

pytestmark = pytest.mark.anyio
WHSEC = "whsec_" + base64.b64encode(b"send-test-standard-webhooks-key!").decode()


@pytest.mark.parametrize("provider", sorted(SPECS))
async def test_send_then_events_show_round_trip(provider: str, seed: Seed, redis_url: str, tmp_path: Path) -> None:
    tenant = "" if not SPECS[provider].needs_tenant else ("4242" if provider in ("github", "hubspot") else "T-SEND")
    secret = WHSEC if provider in ("standard_webhooks", "svix") else "send-test-secret-0123456789abcdef"
    await seed(
        integration=[{"id": f"{provider}-app", "type": provider, "secrets": [secret]}],
        user=[{"id": "u1"}],
        credential=[{"id": "cred-1", "user": "u1", "integration": f"{provider}-app", "provider_id": tenant or None}],
        workflow=[{"id": "wf-1", "name": "Any event", "integration": f"{provider}-app", "trigger": "*"}],
        activate=[("wf-1", "u1")],
    )
    settings = make_settings(redis_url, run_workers=True, consumer_name=f"send-{provider}")
    env = store_env(redis_url, HOOKROUTER_PUBLIC_URL=settings.public_url)  # the router's, as HubSpot signs it
    by_url = [] if tenant else ["--credential", "cred-1"]  # a provider that names no tenant: the user-level URL
    with serve(settings) as base:
        sent = hookrouter("send", provider, "--url", base, "--wait-s", "20", *by_url, env=env, cwd=tmp_path)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    status, event_line = sent.stdout.splitlines()[:2]
    assert status.startswith("200 "), sent.stdout
    event_id = event_line.split()[0]
    assert "matched: 1 job(s): wf-1 (cred-1)" in event_line, sent.stdout
    shown = hookrouter("events", "show", event_id, "--json", env=env, cwd=tmp_path)
    detail = json.loads(shown.stdout)
    assert detail["integration"] == f"{provider}-app" and detail["provider_id"] == tenant
    assert detail["event_type"] and detail["routing"]["status"] == "matched"
    assert [j["workflow"] for j in detail["jobs"]] == ["wf-1"]


async def test_send_says_what_is_missing_in_one_line(seed: Seed, redis_url: str, tmp_path: Path) -> None:
    env = store_env(redis_url)
    none = hookrouter("send", "slack", "--url", "http://127.0.0.1:9", env=env, cwd=tmp_path)
    assert one_line(none) == "hookrouter: no integration of type slack in the registry (hookrouter apply adds one)"
    await seed(integration=[{"id": "tf", "type": "typeform", "secrets": ["s"]}])
    no_sample = hookrouter("send", "typeform", "--url", "http://127.0.0.1:9", env=env, cwd=tmp_path)
    assert one_line(no_sample).startswith("hookrouter: no sample event for typeform: give --body FILE")
    unknown = hookrouter("send", "nope", env=env, cwd=tmp_path)
    assert one_line(unknown) == "hookrouter: Invalid value for PROVIDER: unknown provider 'nope'"
