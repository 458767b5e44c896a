"""Integrations without a webhook verifier (polled, API-only, custom.<name>), their triggers, and options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from subscriptions import polled_catalog, triggers
from subscriptions.config import load
from subscriptions.errors import ConfigError
from subscriptions.models import Integration, IntegrationOptions

REFERENCE = Path("/work/shared/reference/platform-triggers.json")


def config(tmp_path: Path, integration: str, trigger: str, **extra: object) -> Path:
    doc = {
        "project": {"id": "p1"},
        "integrations": [{"id": "app", "type": integration, **extra}],
        "users": [{"id": "u1"}],
        "credentials": [{"id": "c1", "user": "u1", "integration": "app"}],
        "workflows": [{"id": "wf", "integration": "app", "trigger": trigger, "activations": ["u1"]}],
    }
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


@pytest.mark.parametrize("kind", ["salesforce", "google-calendar", "zohocrm", "sage-intacct", "custom.acme-crm"])
def test_types_without_a_verifier_can_be_declared(tmp_path: Path, kind: str) -> None:
    records = load(config(tmp_path, kind, "*"))
    assert [r.type for r in records if isinstance(r, Integration)] == [kind]


@pytest.mark.parametrize("kind", ["sales-force", "custom.", "custom.UPPER", "custom.a/b", ""])
def test_unknown_types_are_still_refused(kind: str) -> None:
    with pytest.raises(ValidationError, match="unknown integration type"):
        Integration(id="app", project="p1", type=kind)


def test_polled_trigger_names_are_checked_at_apply(tmp_path: Path) -> None:
    assert load(config(tmp_path, "salesforce", "New Record"))
    with pytest.raises(ConfigError) as raised:
        load(config(tmp_path, "salesforce", "New Contact"))
    assert "'New Record', 'Record Updated', 'Campaign Member Added', 'Campaign Opportunity Added'" in str(raised.value)


def test_every_polled_trigger_of_the_platform_catalog_is_named() -> None:
    catalog = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else None
    named = {kind: set(triggers.trigger_names(kind)) for kind in polled_catalog.POLLED}
    if catalog is not None:  # the platform's own list, where this machine has it
        for entry in catalog:
            if entry["mode"] == "polling":
                assert set(entry["triggers"]) == named[entry["key"]], entry["key"]
    assert sum(len(names) for names in named.values()) == 55
    assert triggers.trigger_names("pipedrive") == ["Lead Created"]


def test_a_polled_trigger_fires_on_the_event_type_its_poll_stores() -> None:
    assert triggers.matches("salesforce", "New Record", "record.created")
    assert not triggers.matches("salesforce", "New Record", "record.updated")
    assert triggers.matches("jira", "New Issue", "jira:issue_created")  # Jira's own webhook fires it too
    assert triggers.is_coarse("outlook", "New Message")


def test_a_webhook_type_keeps_its_webhook_triggers() -> None:
    assert triggers.trigger_names("slack")[0] == "Direct Message Created"
    assert "salesforce" in triggers.catalog_types() and "sage-intacct" not in triggers.catalog_types()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://graph.example.com", "absolute http"),
        ("https://graph.microsoft.us/v1.0?x=1", "query string"),
        ("https://user:pw@graph.microsoft.us", "credentials"),
        ("graph.microsoft.us", "absolute http"),
        ("https://exa mple.com", "absolute http"),
    ],
)
def test_api_base_url_is_validated(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        IntegrationOptions(api_base_url=url)


def test_options_take_no_unknown_field_and_bound_the_interval() -> None:
    with pytest.raises(ValidationError):
        IntegrationOptions.model_validate({"api_url": "https://x.example"})
    with pytest.raises(ValidationError):
        IntegrationOptions(poll_interval_s=1)
    graph = Integration.model_validate(
        {"id": "o", "project": "p1", "type": "outlook", "options": {"api_base_url": "https://graph.microsoft.us/v1.0"}}
    )
    assert graph.options.api_base_url == "https://graph.microsoft.us/v1.0"


@given(st.text(max_size=80))
def test_any_api_base_url_is_taken_or_refused_with_a_clear_error(text: str) -> None:
    try:
        options = IntegrationOptions(api_base_url=text)
    except ValidationError as exc:
        assert "api_base_url" in str(exc)
    else:
        assert options.api_base_url is not None and options.api_base_url.startswith(("http://", "https://"))
