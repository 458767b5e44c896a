"""deploy/: the Kubernetes manifests validate offline against the API schemas, and every metric the alert rules
and the Grafana dashboard name is one /metrics exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.router.conftest import make_settings, running

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBERNETES_VERSION = "1.30.0"  # the oldest minor release the manifests promise to work on
METRIC = re.compile(r"\bhookrouter_[a-z_]+\b")
HISTOGRAM_SUFFIXES = ("_bucket", "_count", "_sum")


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in manifests() if doc["kind"] == kind]


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_validates_against_the_kubernetes_schema(doc: dict[str, Any]) -> None:
    # strict: a misspelt field (readinesProbe) is an error, not silently dropped.
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_planted_mistake_fails_validation() -> None:
    [receiver] = [d for d in by_kind("Deployment") if d["metadata"]["name"] == "hookrouter-receiver"]
    receiver["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(receiver, KUBERNETES_VERSION, strict=True)


def test_receivers_and_workers_have_probes_requests_budgets_and_autoscaling() -> None:
    deployments = {d["metadata"]["name"]: d for d in by_kind("Deployment")}
    assert set(deployments) == {"hookrouter-receiver", "hookrouter-worker"}
    for deployment in deployments.values():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        names = {e["name"] for e in container["env"]}
        assert "HOOKROUTER_CONSUMER_NAME" in names
    receiver_env = {
        e["name"]: e.get("value")
        for e in deployments["hookrouter-receiver"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert receiver_env["HOOKROUTER_RUN_WORKERS"] == "false"  # the workers run in their own pods
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for d in by_kind("PodDisruptionBudget")
    }
    assert budgets == {"receiver", "worker"}
    scaled = {d["spec"]["scaleTargetRef"]["name"] for d in by_kind("HorizontalPodAutoscaler")}
    assert scaled == set(deployments)


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())["groups"]
    return groups


def test_alert_rules_are_well_formed_and_cover_what_operators_asked_for() -> None:
    rules = [rule for group in rule_groups() for rule in group["rules"]]
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
    names = {rule["alert"] for rule in rules}
    wanted = {
        "HookrouterRoutingBacklogGrowing",
        "HookrouterDeadLettersGrowing",
        "HookrouterVerificationFailureBurst",
        "HookrouterLoopDead",
    }
    assert wanted <= names


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((DEPLOY / "grafana" / "hookrouter.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def named_metrics(exprs: list[str]) -> set[str]:
    names = set()
    for expr in exprs:
        for name in METRIC.findall(expr):
            for suffix in HISTOGRAM_SUFFIXES:
                name = name.removesuffix(suffix) if name.endswith(suffix) else name
            names.add(name.removesuffix("_total"))
    return names


@pytest.mark.anyio
async def test_every_metric_the_rules_and_the_dashboard_name_is_exported(redis_url: str) -> None:
    async with running(make_settings(redis_url)) as http:
        answer = await http.get("/metrics")
    assert answer.status_code == 200
    exported = {family.name for family in text_string_to_metric_families(answer.text)}
    rules = named_metrics([rule["expr"] for group in rule_groups() for rule in group["rules"]])
    dashboard = named_metrics(dashboard_exprs())
    assert len(rules) >= 6 and len(dashboard) >= 15
    assert rules - exported == set()
    assert dashboard - exported == set()
