from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

import verifiers
from router.storage.keys import Keys
from subscriptions import polled_catalog, triggers
from subscriptions.config import load
from subscriptions.errors import ConfigError
from subscriptions.models import trigger_matches
from subscriptions.registry import Registry
from subscriptions.trigger_catalog import TRIGGERS
from tests.router.conftest import make_registry, make_seed, make_settings, make_worker, running, xrange_all
from tests.verifiers import test_github, test_hubspot, test_shopify, test_slack, test_zoom

# The platform's own trigger list, copied verbatim: the one check of the catalog that does not come from it.
REFERENCE = Path(__file__).parent.parent / "data" / "platform-triggers.json"

# A concrete event type for every catalog pattern with a "*"; plain patterns are their own example.
GLOB_EXAMPLES = {
    "*.created": "activity.note.created",
    "*.updated": "opportunity.updated",
    "*.deleted": "lead.deleted",
    "*.creation": "contact.creation",
    "*.propertyChange": "deal.propertyChange",
    "*.deletion": "company.deletion",
    "*.privacyDeletion": "contact.privacyDeletion",
    "task.changed.*": "task.changed.name",
    "Issue.update*.state": "Issue.update.state",
    "Issue.update.labels.*": "Issue.update.labels.state",
    "zen:event-type:ticket.*_changed": "zen:event-type:ticket.status_changed",
}
# Triggers that siblings' events fire on purpose: completing a task updates it; a label and a status
# changed in one Linear update fire both.
OVERLAPS = {
    ("asana", "Task Updated"): {"Task Completed"},
    ("linear", "Issue Status Updated"): {"Label Added or Removed from Issue"},
}
CASES = [(kind, name) for kind, names in TRIGGERS.items() for name in names]


def examples(integration_type: str, trigger: str) -> list[str]:
    return [GLOB_EXAMPLES.get(p, p) for p in triggers.event_patterns(integration_type, trigger)]


# --- the catalog, one test per trigger name --------------------------------------------------------


@pytest.mark.parametrize(("integration_type", "trigger"), CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_each_trigger_fires_on_its_events_and_not_on_its_siblings(integration_type: str, trigger: str) -> None:
    own = examples(integration_type, trigger)
    assert own, "a catalog trigger no event can fire"
    assert all(trigger_matches(integration_type, trigger, event) for event in own)
    if triggers.is_coarse(integration_type, trigger):
        return  # the provider cannot tell these siblings apart (the catalog says so)
    siblings = [n for n in TRIGGERS[integration_type] if n != trigger]
    allowed = OVERLAPS.get((integration_type, trigger), set())
    firing = [
        sibling
        for sibling in siblings
        if sibling not in allowed
        and any(trigger_matches(integration_type, trigger, e) for e in examples(integration_type, sibling))
    ]
    assert firing == [], f"{trigger!r} also fires on the events of {firing}"
    assert not trigger_matches(integration_type, trigger, "no.such.event")


def test_every_glob_pattern_has_an_example_it_matches() -> None:
    globs = {p for kind, name in CASES for p in triggers.event_patterns(kind, name) if "*" in p}
    assert globs == set(GLOB_EXAMPLES)


def test_catalog_types_are_integration_types() -> None:
    assert all(polled_catalog.known_type(kind) for kind in triggers.catalog_types())
    webhook_only = set(triggers.catalog_types()) - set(polled_catalog.POLLED)
    assert webhook_only <= set(verifiers.providers())


def test_catalog_names_every_webhook_trigger_of_the_platform_verbatim() -> None:
    platform = json.loads(REFERENCE.read_text())
    webhook = {i["key"]: i["triggers"] for i in platform if i["mode"] in ("webhook", "mixed") or i["key"] == "trello"}
    assert {kind: triggers.trigger_names(kind) for kind in webhook} == webhook
    assert set(TRIGGERS) == set(webhook)


@pytest.mark.parametrize(
    ("integration_type", "trigger", "event_type", "fires"),
    [
        ("slack", "*", "anything", True),
        ("stripe", "*", "charge.succeeded", True),
        ("stripe", "event:charge.succeeded", "charge.succeeded", True),
        ("stripe", "event:charge.succeeded", "charge.failed", False),
        ("slack", "event:message.im", "message.im", True),
        ("slack", "Channel Message Sent", "message.im", False),
        ("slack", "Channel Message Sent", "message.channels.message_changed", False),
        ("slack", "Channel Message Sent", "messageXchannels", False),  # "." is literal, not a regex
        ("slack", "Channel Message Sent", "message.channels.extra", False),  # whole event type only
        ("slack", "New Order", "orders/create", False),  # another integration's trigger name
        ("shopify", "New Order", "orders/create", True),
        ("slack", "message.channels", "message.channels", False),  # raw event types need "event:"
        ("hubspot", "Record Deleted", "contact.privacyDeletion", False),
        ("close", "Record Created", "created", False),
    ],
)
def test_matches(integration_type: str, trigger: str, event_type: str, fires: bool) -> None:
    assert trigger_matches(integration_type, trigger, event_type) is fires


# --- validation when the config is loaded ------------------------------------------------------------


@pytest.mark.parametrize(
    ("integration_type", "trigger"),
    [("slack", "Channel Message Sent"), ("slack", "*"), ("slack", "event:message.im"), ("stripe", "event:x")],
)
def test_check_accepts(integration_type: str, trigger: str) -> None:
    assert triggers.check(integration_type, trigger) is None


def config(tmp_path: Path, integration_type: str, trigger: str, trigger_type: str = "integration") -> Path:
    path = tmp_path / "c.yaml"
    workflow = {"id": "wf-1", "integration": "app", "trigger_type": trigger_type, "trigger": trigger}
    doc = {"project": {"id": "p"}, "integrations": [{"id": "app", "type": integration_type}], "workflows": [workflow]}
    path.write_text(json.dumps(doc))  # JSON is YAML
    return path


def test_load_rejects_an_unknown_trigger_and_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(config(tmp_path, "slack", "message"))
    message = str(info.value)
    assert "workflow 'wf-1': unknown trigger 'message' for integration type 'slack'" in message
    assert all(repr(name) in message for name in TRIGGERS["slack"])
    assert "'*'" in message and "event:" in message


def test_load_rejects_a_named_trigger_where_the_type_has_no_catalog(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(config(tmp_path, "stripe", "New Charge"))
    assert "integration type 'stripe' has no named triggers; use '*' or 'event:<provider event type>'" in str(
        info.value
    )


def test_load_rejects_an_empty_event_type(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="names no event type"):
        load(config(tmp_path, "github", "event:"))


@pytest.mark.parametrize(
    ("integration_type", "trigger", "trigger_type"),
    [
        ("github", "Issue Created", "integration"),
        ("stripe", "event:charge.succeeded", "integration"),
        ("stripe", "*", "integration"),
        ("slack", "signed-up", "app_event"),  # not an integration trigger: not checked against the catalog
    ],
)
def test_load_accepts(tmp_path: Path, integration_type: str, trigger: str, trigger_type: str) -> None:
    [*_, workflow] = load(config(tmp_path, integration_type, trigger, trigger_type))
    assert workflow.model_dump()["trigger"] == trigger


# --- end to end: signed webhooks through HTTP, routed by trigger name ---------------------------------

KEYS = Keys()
GITHUB_INSTALLATION = "42"
SHOP = "example.myshopify.com"
PORTAL = "62515"
ZOOM_ACCOUNT = "AAAAAABBBB"
WORKFLOWS = [  # (workflow id, integration, trigger name)
    ("wf-slack", "slack-app", "Channel Message Sent"),
    ("wf-github", "github-app", "Issue Created"),
    ("wf-shopify", "shopify-app", "New Order"),
    ("wf-hubspot", "hubspot-app", "New Record"),
    ("wf-zoom", "zoom-app", "New Meeting"),
]


async def seed_all(registry: Registry) -> None:
    apps = [
        ("slack-app", "slack", test_slack.SECRET, "T0001"),
        ("github-app", "github", test_github.SECRET, GITHUB_INSTALLATION),
        ("shopify-app", "shopify", test_shopify.SECRET, SHOP),
        ("hubspot-app", "hubspot", test_hubspot.SECRET, PORTAL),
        ("zoom-app", "zoom", test_zoom.SECRET, ZOOM_ACCOUNT),
    ]
    await make_seed(registry)(
        integration=[{"id": app, "type": kind, "secrets": [secret]} for app, kind, secret, _ in apps],
        user=[{"id": "u1"}],
        credential=[
            {"id": f"cred-{kind}", "user": "u1", "integration": app, "provider_id": tenant}
            for app, kind, _, tenant in apps
        ],
        workflow=[{"id": wf, "integration": app, "trigger": name} for wf, app, name in WORKFLOWS],
        activate=[(wf, "u1") for wf, _, _ in WORKFLOWS],
    )


def slack(channel_type: str, n: int) -> tuple[bytes, dict[str, str]]:
    event = {"type": "message", "channel": "C1", "channel_type": channel_type, "user": "U1", "text": "hi"}
    body = json.dumps({"type": "event_callback", "team_id": "T0001", "event_id": f"Ev{n}", "event": event}).encode()
    return body, test_slack.sign(body, now=int(time.time()))


def github(action: str, n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"action": action, "installation": {"id": int(GITHUB_INSTALLATION)}, "issue": {"id": n}}).encode()
    return body, test_github.sign(body, event="issues", delivery=f"d-{n}")


def shopify(topic: str, n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": n}).encode()
    return body, test_shopify.sign(body, topic=topic, shop=SHOP, webhook_id=f"w-{n}")


def hubspot(subscription: str, n: int) -> tuple[bytes, dict[str, str]]:
    event = {"eventId": n, "portalId": int(PORTAL), "subscriptionType": subscription, "objectId": n}
    body = json.dumps([event]).encode()
    return body, test_hubspot.sign(body, version="v1")


def zoom(event: str, n: int) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"event": event, "payload": {"account_id": ZOOM_ACCOUNT, "object": {"id": str(n)}}}).encode()
    return body, test_zoom.sign(body, now=int(time.time()))


async def post(http: httpx.AsyncClient, app: str, kind: str, signed: tuple[bytes, dict[str, str]]) -> str:
    body, headers = signed
    response = await http.post(
        f"/webhook/triggers/connect/{kind}/{app}", content=body, headers={**headers, "content-type": "application/json"}
    )
    assert response.status_code == 200, response.text
    [event_id] = response.json()["ids"]
    return str(event_id)


@pytest.mark.anyio
async def test_named_triggers_fire_only_on_their_events(redis_url: str, redis: Redis) -> None:
    registry = make_registry(redis)
    await seed_all(registry)
    async with running(make_settings(redis_url)) as http:
        wanted = {
            "wf-slack": await post(http, "slack-app", "slack", slack("channel", 1)),
            "wf-github": await post(http, "github-app", "github", github("opened", 2)),
            "wf-shopify": await post(http, "shopify-app", "shopify", shopify("orders/create", 3)),
            "wf-hubspot": await post(http, "hubspot-app", "hubspot", hubspot("contact.creation", 4)),
            "wf-zoom": await post(http, "zoom-app", "zoom", zoom("meeting.created", 5)),
        }
        unwanted = [
            await post(http, "slack-app", "slack", slack("im", 6)),  # a DM, not a channel message
            await post(http, "github-app", "github", github("closed", 7)),  # Issue Updated
            await post(http, "shopify-app", "shopify", shopify("orders/updated", 8)),  # Order Updated
            await post(http, "hubspot-app", "hubspot", hubspot("contact.propertyChange", 9)),  # Record Updated
            await post(http, "zoom-app", "zoom", zoom("meeting.started", 10)),  # no trigger
        ]
    worker = make_worker(redis, registry)
    while await worker.run_once():
        pass
    for workflow, event_id in wanted.items():
        jobs = await xrange_all(redis, KEYS.triggers(workflow))
        assert [fields[b"event_id"].decode() for _, fields in jobs] == [event_id], workflow
    for event_id in unwanted:
        raw = await redis.hget(KEYS.outcomes, event_id)
        assert raw is not None and json.loads(raw)["status"] == "no_workflow"
