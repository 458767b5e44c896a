"""Every provider end to end through the HTTP receiver: sign → POST → verify → extract → XADD.

The verifier suites prove each scheme against ``verifiers.verify``; this one proves the router feeds
them what they need (raw body, headers, method, the public URL with its query) and stores one ingest
entry per extracted event. ``ROWS`` has at least one row per name in ``verifiers.providers()``
(aliases included) and ``SHAKES`` at least one per provider with a handshake: a provider added without
an end-to-end row fails ``test_every_provider_*``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from redis.asyncio import Redis

import verifiers
from router.settings import Settings
from router.storage.entries import IngestEvent
from router.storage.keys import Keys
from subscriptions.models import Integration
from subscriptions.registry import Registry
from tests.router.conftest import Seed, make_settings, running
from tests.verifiers import (
    catalog_samples,
    test_asana,
    test_box,
    test_calendly,
    test_clickup,
    test_close,
    test_discord,
    test_docusign,
    test_dropbox,
    test_dynamicsbusinesscentral,
    test_github,
    test_gmail,
    test_gong,
    test_greenhouse,
    test_hubspot,
    test_intercom,
    test_jira,
    test_lever,
    test_linear,
    test_mailchimp,
    test_mandrill,
    test_microsoft_graph,
    test_monday,
    test_notion,
    test_outreach,
    test_paddle,
    test_pipedrive,
    test_quickbooks,
    test_salesloft,
    test_segment,
    test_sendgrid,
    test_shopify,
    test_slack,
    test_standard_webhooks,
    test_stripe,
    test_trello,
    test_twilio,
    test_typeform,
    test_xero,
    test_zendesk,
    test_zoom,
)
from verifiers._core import lookup

pytestmark = pytest.mark.anyio
KEYS = Keys()
BASE = "http://hooks.test"  # the base_url of tests.router.conftest.running
INTEGRATION = "int-1"
GRAPH_NAMES = ("microsoft_graph", "microsoft-teams", "onedrive", "outlook", "sharepoint")


@dataclass(frozen=True, slots=True)
class Signed:
    """One request as the provider sends it. ``query`` ("?a=b" or "") is appended to the webhook path."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""
    method: str = "POST"


# (the webhook URL without query, as the router will see it; unix seconds now) -> the request
Build = Callable[[str, int], Signed]
Forge = Callable[[Signed, str, int], Signed]


def tamper_body(request: Signed, url: str, now: int) -> Signed:
    # Trailing whitespace keeps JSON (and form values) parseable, so the failure is the signature's.
    return replace(request, body=request.body + b" ")


@dataclass(frozen=True, slots=True)
class Row:
    id: str
    provider: str
    secrets: tuple[str, ...]
    build: Build
    expected: tuple[tuple[str, str], ...]  # (provider_id, event_type) of each stored entry, in order
    # How to break authentication. Default: change the body. Schemes that do not sign the body (URL
    # secret, clientState, JWT over claims, Basic auth, Lever's token) forge their credential instead.
    forge: Forge = tamper_body
    reason: str = "signature_mismatch"


@pytest.fixture
def settings(redis_url: str) -> Settings:
    """No test here waits on the registry refresher (each one seeds first, or restarts the app to reload).

    A slow refresher keeps shutdown from cancelling it mid-refresh: on Python 3.11 redis-py's
    ``asyncio.wait_for`` can swallow that cancellation and the lifespan then never finishes.
    """
    return make_settings(redis_url, registry_refresh_s=1.0)


# Providers whose deliveries are split, one stored entry per event with that event's own JSON as body.
EMPTY_REPLIES = {"xero"}
BATCHED = {"asana", "dropbox", "dynamicsbusinesscentral", "hubspot", "mandrill", "quickbooks", "sendgrid", "xero"}
BATCHED |= set(GRAPH_NAMES) | {
    "line",
    "meta",
    "facebook",
    "instagram",
    "whatsapp",
    "okta",
    "adyen",
    "pandadoc",
    "klaviyo",
}


def webhook_path(provider: str) -> str:
    return f"/webhook/triggers/connect/{provider}/{INTEGRATION}"


def webhook_url(provider: str) -> str:
    return BASE + webhook_path(provider)


def fixed(body: bytes, sign: Callable[[bytes], dict[str, str]]) -> Build:
    """A request whose signature depends on the body only."""
    return lambda url, now: Signed(body, sign(body))


def timed(body: bytes, sign: Callable[[bytes, int], dict[str, str]]) -> Build:
    """A request whose signature covers a timestamp: signed at the router's now."""
    return lambda url, now: Signed(body, sign(body, now))


# --- per-provider builders that need more than the body -------------------------------------------

DISCORD_COMMAND = json.dumps(
    {"type": 2, "id": "ix-1", "application_id": "app-1", "guild_id": "g-1", "data": {"name": "hi"}}
).encode()
DISCORD_EVENT = json.dumps(
    {
        "version": 1,
        "application_id": "app-1",
        "type": 1,
        "event": {
            "type": "APPLICATION_AUTHORIZED",
            "timestamp": "2024-01-01T00:00:00",
            "data": {"guild": {"id": "g-2"}},
        },
    }
).encode()
GITHUB_BODY = json.dumps({"action": "opened", "installation": {"id": 42}}).encode()
GRAPH_SECOND = test_microsoft_graph.notification(id="n-2", changeType="updated", tenantId="tenant-2")
GRAPH_BODY = test_microsoft_graph.body_of(test_microsoft_graph.notification(), GRAPH_SECOND)
SENDGRID_BODY = (
    b'[{"email":"a@example.com","event":"delivered","sg_event_id":"sg-1","timestamp":1700000000},'
    b'{"email":"b@example.com","event":"open","sg_event_id":"sg-2","timestamp":1700000001}]\r\n'
)
SLACK_BODY = json.dumps(
    {"type": "event_callback", "team_id": "T0001", "event_id": "Ev1", "event": {"type": "message", "text": "hi"}}
).encode()
STANDARD_BODY = b'{"type":"invoice.paid","timestamp":"2024-01-01T00:00:00Z","data":{"id":"in_1"}}'
STRIPE_BODY = json.dumps({"id": "evt_1", "type": "invoice.paid", "account": "acct_1"}).encode()
TWILIO_FORM = urlencode({"AccountSid": "AC123", "MessageSid": "SM1", "MessageStatus": "delivered"}).encode()
TWILIO_JSON = b'{"account_sid":"AC123","type":"message.delivered"}'
MAILCHIMP_QUERY = "?" + urlencode({"secret": test_mailchimp.SECRET})
PIPEDRIVE_SECRET = test_pipedrive.SECRET


def gmail(url: str, now: int) -> Signed:
    # No aud= secret: the audience defaults to the URL the router saw, so this checks that URL too.
    return Signed(test_gmail.BODY, test_gmail.sign(test_gmail.BODY, now=now, aud=url))


def gmail_forged(request: Signed, url: str, now: int) -> Signed:
    return replace(request, headers=test_gmail.sign(request.body, key=test_gmail.OTHER_KEY, now=now, aud=url))


def gong(url: str, now: int) -> Signed:
    return Signed(test_gong.BODY, test_gong.sign(test_gong.BODY, url=url, now=now))


def hubspot(url: str, now: int) -> Signed:
    return Signed(test_hubspot.BODY, test_hubspot.sign(test_hubspot.BODY, url=url, now=now))


def jira_connect(url: str, now: int) -> Signed:
    qsh = test_jira.qsh("POST", webhook_path("jira"), "")
    return Signed(test_jira.BODY, {"authorization": f"JWT {test_jira.connect_token(now=now, qsh=qsh)}"})


def jira_connect_forged(request: Signed, url: str, now: int) -> Signed:
    qsh = test_jira.qsh("POST", webhook_path("jira"), "")
    token = test_jira.connect_token(secret="not-the-shared-secret-0123456789abcdef", now=now, qsh=qsh)
    return replace(request, headers={"authorization": f"JWT {token}"})


def lever_forged(request: Signed, url: str, now: int) -> Signed:
    # The signature covers token + triggeredAt only: swap the token, keep the signature.
    return replace(request, body=request.body.replace(test_lever.TOKEN.encode(), b"f" * len(test_lever.TOKEN)))


def mailchimp(url: str, now: int) -> Signed:
    return Signed(test_mailchimp.BODY, test_mailchimp.sign(test_mailchimp.BODY), MAILCHIMP_QUERY)


def mailchimp_forged(request: Signed, url: str, now: int) -> Signed:
    return replace(request, query="?" + urlencode({"secret": "guessed"}))


def mandrill(url: str, now: int) -> Signed:
    return Signed(test_mandrill.BODY, test_mandrill.sign(test_mandrill.BODY, url=url))


def client_state_forged(request: Signed, url: str, now: int) -> Signed:
    # Graph and Business Central sign nothing: the clientState inside the body is the credential.
    data = json.loads(request.body)
    data["value"][-1]["clientState"] = "forged-client-state"
    return replace(request, body=json.dumps(data).encode())


def monday(url: str, now: int) -> Signed:
    return Signed(test_monday.BODY, test_monday.sign(test_monday.BODY, now=now, aud=url))


def monday_forged(request: Signed, url: str, now: int) -> Signed:
    headers = test_monday.sign(request.body, secret="not-the-signing-secret-0123456789abcd", now=now, aud=url)
    return replace(request, headers=headers)


def pipedrive_forged(request: Signed, url: str, now: int) -> Signed:
    return replace(request, headers=test_pipedrive.sign(secret="hookrouter:guessed"))


def trello(url: str, now: int) -> Signed:
    return Signed(test_trello.BODY, test_trello.sign(test_trello.BODY, url=url))


def twilio_form(url: str, now: int) -> Signed:
    headers = {**test_twilio.sign(TWILIO_FORM, url=url), "content-type": "application/x-www-form-urlencoded"}
    return Signed(TWILIO_FORM, headers)


def twilio_json(url: str, now: int) -> Signed:
    signed_url = test_twilio.json_url(TWILIO_JSON, url)
    headers = {**test_twilio.sign(TWILIO_JSON, url=signed_url, json_body=True), "content-type": "application/json"}
    return Signed(TWILIO_JSON, headers, signed_url.removeprefix(url))


def graph_row(name: str) -> Row:
    return Row(
        name,
        name,
        (test_microsoft_graph.SECRET,),
        fixed(GRAPH_BODY, test_microsoft_graph.sign),
        (("84bd8158-6d4d-4958-8b9f-9d6445542f95", "created"), ("tenant-2", "updated")),
        client_state_forged,
    )


BC_COMPANY = "b18aed47-c385-49d2-b954-dbdf8ad71780"
ROWS: list[Row] = [
    Row(
        "asana",
        "asana",
        (test_asana.SECRET,),
        fixed(test_asana.BODY, test_asana.sign),
        (("", "task.changed.due_on"), ("", "story.added.comment_added")),
    ),
    Row(
        "box",
        "box",
        (test_box.PRIMARY, test_box.SECONDARY),
        timed(test_box.BODY, lambda b, now: test_box.sign(b, now=now)),
        (("3572464", "FILE.UPLOADED"),),
    ),
    Row(
        "calendly",
        "calendly",
        (test_calendly.SECRET,),
        timed(test_calendly.BODY, lambda b, now: test_calendly.sign(b, now=now)),
        (("https://api.calendly.com/users/AAAAAAAAAAAAAAAA", "invitee.created"),),
    ),
    Row(
        "clickup",
        "clickup",
        (test_clickup.SECRET,),
        fixed(test_clickup.BODY, test_clickup.sign),
        (("7689a169-a000-4985-8676-6902b96d6627", "taskCreated"),),
    ),
    Row(
        "close",
        "close",
        (test_close.SECRET,),
        timed(test_close.BODY, lambda b, now: test_close.sign(b, now=now)),
        (("orga_XbVPx5fFbKlYTz9PW5Ih1XDhViV10YihIaEgMEb6fVW", "lead.created"),),
    ),
    Row(
        "discord-interaction",
        "discord",
        (test_discord.PUBLIC,),
        timed(DISCORD_COMMAND, lambda b, now: test_discord.sign(b, now=now)),
        (("g-1", "APPLICATION_COMMAND"),),
    ),
    Row(
        "discord-webhook-event",
        "discord",
        (test_discord.PUBLIC,),
        timed(DISCORD_EVENT, lambda b, now: test_discord.sign(b, now=now)),
        (("g-2", "APPLICATION_AUTHORIZED"),),
    ),
    Row(
        "docusign",
        "docusign",
        (test_docusign.SECRET,),
        fixed(test_docusign.BODY, test_docusign.sign),
        (("a1b2c3d4-0000-4000-8000-000000000001", "envelope-completed"),),
    ),
    Row(
        "dropbox",
        "dropbox",
        (test_dropbox.SECRET,),
        fixed(test_dropbox.BODY, test_dropbox.sign),
        (("dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc", "list_folder"), ("dbid:AAB2", "list_folder"), ("1", "delta")),
    ),
    Row(
        "dynamicsbusinesscentral",
        "dynamicsbusinesscentral",
        (test_dynamicsbusinesscentral.SECRET,),
        fixed(test_dynamicsbusinesscentral.BODY, test_dynamicsbusinesscentral.sign),
        (
            (BC_COMPANY, "updated"),
            (BC_COMPANY, "created"),
            (BC_COMPANY, "deleted"),
            ("7dbba574-5f69-4167-a43e-fb975045de15", "collection"),
        ),
        client_state_forged,
    ),
    Row(
        "github",
        "github",
        (test_github.SECRET,),
        fixed(GITHUB_BODY, lambda b: test_github.sign(b, event="issues")),
        (("42", "issues.opened"),),
    ),
    Row(
        "gmail",
        "gmail",
        (test_gmail.PEM, f"email={test_gmail.SA}"),
        gmail,
        (("user@example.com", "history"),),
        gmail_forged,
    ),
    Row("gong", "gong", (test_gong.SECRET,), gong, (("", "call"),)),
    Row(
        "greenhouse",
        "greenhouse",
        (test_greenhouse.SECRET,),
        fixed(test_greenhouse.BODY, test_greenhouse.sign),
        (("", "candidate_hired"),),
    ),
    Row(
        "hubspot",
        "hubspot",
        (test_hubspot.SECRET,),
        hubspot,
        (("62515", "contact.creation"), ("62516", "deal.propertyChange")),
    ),
    Row(
        "intercom",
        "intercom",
        (test_intercom.SECRET,),
        fixed(test_intercom.BODY, test_intercom.sign),
        (("ecahpwf5", "conversation.user.created"),),
    ),
    Row(
        "jira-admin",
        "jira",
        (test_jira.SECRET,),
        fixed(test_jira.BODY, test_jira.sign),
        (("https://acme.atlassian.net", "jira:issue_created"),),
    ),
    Row(
        "jira-connect",
        "jira",
        (test_jira.SHARED,),
        jira_connect,
        ((test_jira.CLIENT_KEY, "jira:issue_created"),),
        jira_connect_forged,
    ),
    Row(
        "lever",
        "lever",
        (test_lever.SECRET,),
        lambda url, now: Signed(test_lever.sign(now=now)),
        (("", "candidateStageChange"),),
        lever_forged,
    ),
    Row(
        "linear",
        "linear",
        (test_linear.SECRET,),
        lambda url, now: Signed(body := test_linear.payload(now=now), test_linear.sign(body)),
        (("org-42", "Issue.update"),),
    ),
    Row(
        "mailchimp",
        "mailchimp",
        (test_mailchimp.SECRET,),
        mailchimp,
        (("a6b5da1054", "subscribe"),),
        mailchimp_forged,
    ),
    Row(
        "mandrill",
        "mandrill",
        (test_mandrill.SECRET,),
        mandrill,
        (("", "send"), ("", "open"), ("", "whitelist")),
    ),
    *(graph_row(name) for name in GRAPH_NAMES),
    Row(
        "monday",
        "monday",
        (test_monday.SECRET,),
        monday,
        ((str(test_monday.ACCOUNT), "create_pulse"),),
        monday_forged,
    ),
    Row(
        "notion",
        "notion",
        (test_notion.SECRET,),
        fixed(test_notion.BODY, test_notion.sign),
        (("13950b26-c203-4f3b-b97d-93ec06319565", "page.created"),),
    ),
    Row(
        "outreach",
        "outreach",
        (test_outreach.SECRET,),
        fixed(test_outreach.BODY, test_outreach.sign),
        (("", "prospect.updated"),),
    ),
    Row(
        "paddle",
        "paddle",
        (test_paddle.SECRET,),
        timed(test_paddle.BODY, lambda b, now: test_paddle.sign(b, now=now)),
        (("", "transaction.completed"),),
    ),
    Row(
        "pipedrive",
        "pipedrive",
        (PIPEDRIVE_SECRET,),
        fixed(test_pipedrive.BODY_V2, test_pipedrive.sign),
        (("12882925", "change.deal"),),
        pipedrive_forged,
    ),
    Row(
        "quickbooks-legacy",
        "quickbooks",
        (test_quickbooks.SECRET,),
        fixed(test_quickbooks.BODY, test_quickbooks.sign),
        (("1185883450", "Customer.Create"), ("9130347596", "Invoice.Update")),
    ),
    Row(
        "quickbooks-cloudevents",
        "quickbooks",
        (test_quickbooks.SECRET,),
        fixed(json.dumps(test_quickbooks.CLOUD).encode(), test_quickbooks.sign),
        (("310687", "qbo.customer.created.v1"),),
    ),
    Row(
        "salesloft",
        "salesloft",
        (test_salesloft.SECRET,),
        fixed(test_salesloft.BODY, test_salesloft.sign),
        (("", "person_updated"),),
    ),
    Row(
        "segment",
        "segment",
        (test_segment.SECRET,),
        fixed(test_segment.BODY, test_segment.sign),
        (("proj_123", "Order Completed"),),
    ),
    Row(
        "sendgrid",
        "sendgrid",
        (test_sendgrid.SECRET,),
        timed(SENDGRID_BODY, lambda b, now: test_sendgrid.sign(b, now=now)),
        (("", "delivered"), ("", "open")),
    ),
    Row(
        "shopify",
        "shopify",
        (test_shopify.SECRET,),
        fixed(test_shopify.BODY, test_shopify.sign),
        (("example.myshopify.com", "orders/create"),),
    ),
    Row(
        "slack",
        "slack",
        (test_slack.SECRET,),
        timed(SLACK_BODY, lambda b, now: test_slack.sign(b, now=now)),
        (("T0001", "message"),),
    ),
    Row(
        "standard_webhooks",
        "standard_webhooks",
        (test_standard_webhooks.SECRET,),
        timed(STANDARD_BODY, lambda b, now: test_standard_webhooks.sign(b, now=now)),
        (("", "invoice.paid"),),
    ),
    Row(
        "svix",
        "svix",
        (test_standard_webhooks.SECRET,),
        timed(STANDARD_BODY, lambda b, now: test_standard_webhooks.sign(b, now=now, prefix="svix-")),
        (("", "invoice.paid"),),
    ),
    Row(
        "stripe",
        "stripe",
        (test_stripe.SECRET,),
        timed(STRIPE_BODY, lambda b, now: test_stripe.sign(b, now=now)),
        (("acct_1", "invoice.paid"),),
    ),
    Row("trello", "trello", (test_trello.SECRET,), trello, (("4d5ea62fd76aa1136000000c", "updateCard"),)),
    Row("twilio-form", "twilio", (test_twilio.TOKEN,), twilio_form, (("AC123", "delivered"),)),
    Row("twilio-json", "twilio", (test_twilio.TOKEN,), twilio_json, (("AC123", "message.delivered"),)),
    Row(
        "typeform",
        "typeform",
        (test_typeform.SECRET,),
        fixed(test_typeform.BODY, test_typeform.sign),
        (("lT4Z3j", "form_response"),),
    ),
    Row(
        "xero",
        "xero",
        (test_xero.SECRET,),
        fixed(test_xero.BODY, test_xero.sign),
        (("c2cc9b6e-9458-4c7d-93cc-f02b81b0594f", "CONTACT.UPDATE"), ("2e8d0b2c-0000", "INVOICE.CREATE")),
    ),
    Row(
        "zendesk",
        "zendesk",
        (test_zendesk.SECRET,),
        timed(test_zendesk.BODY, lambda b, now: test_zendesk.sign(b, now=now)),
        (("12514403", "zen:event-type:ticket.created"),),
    ),
    Row(
        "zoom",
        "zoom",
        (test_zoom.SECRET,),
        timed(test_zoom.BODY, lambda b, now: test_zoom.sign(b, now=now)),
        (("AAAAAABBBB", "meeting.started"),),
    ),
]


def catalog_row(name: str) -> Row:
    """A catalog provider's sample, signed by ``verifiers.sign_request`` at the router's now; forged by
    signing it with another secret of the same shape."""
    item = catalog_samples.SAMPLES[catalog_samples.ALIASES.get(name, name)]

    def build_with(secrets: tuple[str, ...], url: str, now: int) -> Signed:
        request = verifiers.sign_request(name, secrets=secrets, body=item.body, url=url, now=now, headers=item.headers)
        return Signed(request.body, request.headers, request.url[len(url) :])

    def forge(request: Signed, url: str, now: int) -> Signed:
        return build_with(tuple(catalog_samples.other_secret(s) for s in item.secrets), url, now)

    expected = tuple((tenant, kind) for tenant, kind, _ in item.expected)
    return Row(name, name, item.checks, lambda url, now: build_with(item.secrets, url, now), expected, forge)


CATALOG = sorted([*catalog_samples.SAMPLES, *catalog_samples.ALIASES])
ROWS += [catalog_row(name) for name in CATALOG]


# --- helpers ---------------------------------------------------------------------------------------


async def seed_integration(seed: Seed, provider: str, secrets: tuple[str, ...] | list[str]) -> None:
    await seed(integration=[{"id": INTEGRATION, "type": provider, "secrets": list(secrets)}])


async def send(http: httpx.AsyncClient, provider: str, request: Signed) -> httpx.Response:
    return await http.request(
        request.method, webhook_path(provider) + request.query, content=request.body, headers=request.headers
    )


async def stored(redis: Redis) -> dict[str, dict[str, str]]:
    """Ingest entries by id, fields decoded (bodies are JSON or form text in every row here)."""
    reply: list[tuple[bytes, dict[bytes, bytes]]] = await redis.xrange(KEYS.ingest)  # type: ignore[assignment]
    events = {i.decode(): IngestEvent.from_fields({k.decode(): v for k, v in f.items()}) for i, f in reply}
    return {i: {k: v.decode() if isinstance(v, bytes) else v for k, v in asdict(e).items()} for i, e in events.items()}


# --- events ----------------------------------------------------------------------------------------


def test_every_provider_has_an_end_to_end_row() -> None:
    assert sorted({row.provider for row in ROWS}) == verifiers.providers()
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_signed_request_is_stored_once_per_event(settings: Settings, seed: Seed, redis: Redis, row: Row) -> None:
    await seed_integration(seed, row.provider, row.secrets)
    request = row.build(webhook_url(row.provider), int(time.time()))
    async with running(settings) as http:
        response = await send(http, row.provider, request)
    assert response.status_code == 200, response.text
    entries = await stored(redis)
    # Xero wants replies without a body: the stream is then the only place the ids show.
    ids = list(entries) if row.provider in EMPTY_REPLIES else response.json()["ids"]
    assert sorted(ids) == sorted(entries) and len(ids) == len(row.expected)
    assert [(entries[i]["provider_id"], entries[i]["event_type"]) for i in ids] == list(row.expected)
    for entry_id in ids:
        fields = entries[entry_id]
        assert (fields["integration"], fields["integration_type"], fields["project"]) == (
            INTEGRATION,
            row.provider,
            "p1",
        )
    bodies = [entries[i]["body"] for i in ids]
    if row.provider in BATCHED:  # a split batch stores each event's own JSON, not the whole delivery N times
        assert len(set(bodies)) == len(bodies) and all(isinstance(json.loads(b), dict) for b in bodies)
        assert request.body.decode() not in bodies
    else:
        assert bodies == [request.body.decode()]


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
async def test_forged_request_is_401_and_stores_nothing(settings: Settings, seed: Seed, redis: Redis, row: Row) -> None:
    await seed_integration(seed, row.provider, row.secrets)
    now = int(time.time())
    url = webhook_url(row.provider)
    forged = row.forge(row.build(url, now), url, now)
    async with running(settings) as http:
        response = await send(http, row.provider, forged)
    if row.provider in EMPTY_REPLIES:
        assert (response.status_code, response.content) == (401, b"")
    else:
        assert (response.status_code, response.json()) == (401, {"error": row.reason})
    assert await redis.exists(KEYS.ingest) == 0


URL_BOUND = ("gmail", "gong", "hubspot", "jira-connect", "mailchimp", "mandrill", "monday", "trello", "twilio-form")
PUBLIC_URL = "https://hooks.example.com/"


@pytest.mark.parametrize("row", [row for row in ROWS if row.id in URL_BOUND], ids=lambda row: row.id)
async def test_url_signing_schemes_see_the_configured_public_url(
    redis_url: str, seed: Seed, redis: Redis, row: Row
) -> None:
    """Behind a proxy the provider signs the public URL, not the one the app was called on."""
    await seed_integration(seed, row.provider, row.secrets)
    request = row.build(PUBLIC_URL.rstrip("/") + webhook_path(row.provider), int(time.time()))
    async with running(make_settings(redis_url, public_url=PUBLIC_URL, registry_refresh_s=1.0)) as http:
        response = await send(http, row.provider, request)
    assert response.status_code == 200, response.text
    assert await redis.xlen(KEYS.ingest) == len(row.expected)


# --- handshakes ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shake:
    id: str
    provider: str
    secrets: tuple[str, ...]
    build: Build
    status: int
    content_type: str | None
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # further response headers expected
    xfail: str = ""  # a known bug: the reason, and the row is marked xfail(strict=True)


JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
SLACK_CHALLENGE = json.dumps({"type": "url_verification", "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV"}).encode()
ZOOM_TOKEN = "qgg8vlvZRS6UYooatFL8Aw"
ZOOM_REPLY = json.dumps(
    {
        "plainToken": ZOOM_TOKEN,
        "encryptedToken": hmac.new(test_zoom.SECRET.encode(), ZOOM_TOKEN.encode(), hashlib.sha256).hexdigest(),
    }
).encode()
VALIDATION_TOKEN = "Validation: Testing client application reachability for subscription Request-Id: 25b"
VALIDATION_QUERY = "?" + urlencode({"validationToken": VALIDATION_TOKEN})
HOOK_SECRET = "b537207f20cbfa02357cf448134da559e8bd39d61597dcd5631b8012eae53e81"
MONDAY_CHALLENGE = json.dumps({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}).encode()
DISCORD_PING = test_discord.PING_BODY
DISCORD_WEBHOOK_PING = b'{"version":1,"application_id":"1139312744389525544","type":0}'
NOTION_TOKEN = "secret_" + "n" * 43
OK = b'{"ok":true}'


def asana_handshake(url: str, now: int) -> Signed:
    return Signed(b"", {"x-hook-secret": HOOK_SECRET})


def notion_handshake(url: str, now: int) -> Signed:
    return Signed(json.dumps({"verification_token": NOTION_TOKEN}).encode(), {"content-type": JSON})


def graph_validation(method: str) -> Build:
    return lambda url, now: Signed(b"", {"content-type": "text/plain"}, VALIDATION_QUERY, method)


def graph_shakes(name: str) -> list[Shake]:
    secrets = (test_microsoft_graph.SECRET,)
    return [
        Shake(f"{name}-post", name, secrets, graph_validation("POST"), 200, TEXT, VALIDATION_TOKEN.encode()),
        Shake(f"{name}-get", name, secrets, graph_validation("GET"), 200, TEXT, VALIDATION_TOKEN.encode()),
    ]


def unauthorized(reason: str) -> bytes:
    return json.dumps({"error": reason}, separators=(",", ":")).encode()


def sign_discord(body: bytes) -> Build:
    return lambda url, now: Signed(body, test_discord.sign(body, now=now))


def forged_discord(body: bytes) -> Build:
    other = Ed25519PrivateKey.generate()
    return lambda url, now: Signed(body, test_discord.sign(body, secret=other, now=now))


SHAKES: list[Shake] = [
    Shake("asana-x-hook-secret", "asana", (), asana_handshake, 200, None, b"", {"x-hook-secret": HOOK_SECRET}),
    Shake(
        "asana-x-hook-secret-with-a-secret-already",
        "asana",
        (test_asana.SECRET,),
        asana_handshake,
        200,
        None,
        b"",
        {"x-hook-secret": HOOK_SECRET},
    ),
    Shake("discord-ping", "discord", (test_discord.PUBLIC,), sign_discord(DISCORD_PING), 200, JSON, b'{"type": 1}'),
    Shake(
        "discord-ping-bad-signature",
        "discord",
        (test_discord.PUBLIC,),
        forged_discord(DISCORD_PING),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
    Shake(
        "discord-webhook-ping", "discord", (test_discord.PUBLIC,), sign_discord(DISCORD_WEBHOOK_PING), 204, None, b""
    ),
    Shake(
        "dropbox-challenge",
        "dropbox",
        (test_dropbox.SECRET,),
        lambda url, now: Signed(b"", {}, "?challenge=" + test_dropbox.VECTOR_CHALLENGE, "GET"),
        200,
        TEXT,
        test_dropbox.VECTOR_CHALLENGE.encode(),
        {"x-content-type-options": "nosniff"},
    ),
    *graph_shakes("dynamicsbusinesscentral"),
    Shake(
        "github-ping",
        "github",
        (test_github.SECRET,),
        fixed(b'{"zen":"Design for failure.","hook_id":1}', lambda b: test_github.sign(b, event="ping")),
        200,
        JSON,
        OK,
    ),
    Shake(
        "github-ping-bad-signature",
        "github",
        (test_github.SECRET,),
        fixed(b'{"zen":"x"}', lambda b: test_github.sign(b, secret="wrong", event="ping")),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
    Shake(
        "greenhouse-ping",
        "greenhouse",
        (test_greenhouse.SECRET,),
        fixed(test_greenhouse.PING, test_greenhouse.sign),
        200,
        JSON,
        OK,
    ),
    Shake(
        "intercom-ping",
        "intercom",
        (test_intercom.SECRET,),
        fixed(test_intercom.PING, test_intercom.sign),
        200,
        JSON,
        OK,
    ),
    Shake(
        "mailchimp-get",
        "mailchimp",
        (test_mailchimp.SECRET,),
        lambda url, now: Signed(b"", {}, MAILCHIMP_QUERY, "GET"),
        200,
        TEXT,
        b"",
    ),
    Shake(
        "mailchimp-get-wrong-secret",
        "mailchimp",
        (test_mailchimp.SECRET,),
        lambda url, now: Signed(b"", {}, "?secret=guessed", "GET"),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
    Shake(
        "mandrill-head",
        "mandrill",
        (test_mandrill.SECRET,),
        lambda url, now: Signed(b"", {}, "", "HEAD"),
        200,
        None,
        b"",
    ),
    *(shake for name in GRAPH_NAMES for shake in graph_shakes(name)),
    Shake(
        "monday-challenge",
        "monday",
        (test_monday.SECRET,),
        lambda url, now: Signed(MONDAY_CHALLENGE, {"content-type": JSON}),
        200,
        JSON,
        MONDAY_CHALLENGE,
    ),
    Shake("notion-verification-token", "notion", (), notion_handshake, 200, JSON, b"{}"),
    Shake(
        "notion-verification-token-with-a-secret-already",
        "notion",
        (test_notion.SECRET,),
        notion_handshake,
        200,
        JSON,
        b"{}",
    ),
    Shake(
        "slack-url-verification",
        "slack",
        (test_slack.SECRET,),
        timed(SLACK_CHALLENGE, lambda b, now: test_slack.sign(b, now=now)),
        200,
        JSON,
        b'{"challenge": "3eZbrw1aBm2rZgRNFdxV"}',
    ),
    Shake(
        "slack-url-verification-forged",
        "slack",
        (test_slack.SECRET,),
        timed(SLACK_CHALLENGE, lambda b, now: test_slack.sign(b, secret="wrong", now=now)),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
    Shake("trello-head", "trello", (test_trello.SECRET,), lambda url, now: Signed(b"", {}, "", "HEAD"), 200, None, b""),
    Shake(
        "xero-intent-to-receive-valid",
        "xero",
        (test_xero.SECRET,),
        fixed(test_xero.ITR, test_xero.sign),
        200,
        None,
        b"",
    ),
    Shake(
        "xero-intent-to-receive-invalid",
        "xero",
        (test_xero.SECRET,),
        fixed(test_xero.ITR, lambda b: test_xero.sign(b, secret="wrong")),
        401,
        None,
        b"",
    ),
    Shake(
        "zoom-url-validation",
        "zoom",
        (test_zoom.SECRET,),
        timed(test_zoom.VALIDATION, lambda b, now: test_zoom.sign(b, now=now)),
        200,
        JSON,
        ZOOM_REPLY,
    ),
    Shake(
        "zoom-url-validation-unsigned",
        "zoom",
        (test_zoom.SECRET,),
        lambda url, now: Signed(test_zoom.VALIDATION),
        401,
        JSON,
        unauthorized("missing_header"),
    ),
]


META_SECRETS = catalog_samples.SAMPLES["meta"].secrets
META_QUERY = "?" + urlencode({"hub.mode": "subscribe", "hub.verify_token": "meta-verify-token", "hub.challenge": "15"})
META_FORGED = "?" + urlencode({"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "15"})
SMARTSHEET_CHALLENGE = b'{"challenge":"d78dd1d3-01ce-4481-81de-92b4f3aa5ab1","webhookId":2674017481058180}'
OKTA_CHALLENGE = {"x-okta-verification-challenge": "2EZ4wY1CrDfF9T3dP9aByYC8c3YWzyyeh0V2u9Ye"}
TWITCH_CHALLENGE = b'{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}'
TWITCH_VERIFICATION = {"twitch-eventsub-message-type": "webhook_callback_verification"}


def twitch_verification(secret: str) -> Build:
    def build(url: str, now: int) -> Signed:
        headers = verifiers.sign(
            "twitch", secrets=[secret], body=TWITCH_CHALLENGE, now=now, headers=TWITCH_VERIFICATION
        )
        return Signed(TWITCH_CHALLENGE, headers)

    return build


def meta_shakes(name: str) -> list[Shake]:
    return [
        Shake(
            f"{name}-verification",
            name,
            META_SECRETS,
            lambda url, now: Signed(b"", query=META_QUERY, method="GET"),
            200,
            TEXT,
            b"15",
        ),
        Shake(
            f"{name}-verification-wrong-token",
            name,
            META_SECRETS,
            lambda url, now: Signed(b"", query=META_FORGED, method="GET"),
            401,
            JSON,
            unauthorized("signature_mismatch"),
        ),
    ]


SHAKES += [shake for name in ("meta", "facebook", "instagram", "whatsapp") for shake in meta_shakes(name)]
SHAKES += [
    Shake(
        "smartsheet-challenge",
        "smartsheet",
        ("smartsheet-secret",),
        lambda url, now: Signed(
            SMARTSHEET_CHALLENGE, {"smartsheet-hook-challenge": "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1"}
        ),
        200,
        JSON,
        b'{"smartsheetHookResponse": "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1"}',
        {"smartsheet-hook-response": "d78dd1d3-01ce-4481-81de-92b4f3aa5ab1"},
    ),
    Shake(
        "okta-verification",
        "okta",
        ("okta-key",),
        lambda url, now: Signed(b"", {**OKTA_CHALLENGE, "authorization": "okta-key"}, method="GET"),
        200,
        JSON,
        b'{"verification": "2EZ4wY1CrDfF9T3dP9aByYC8c3YWzyyeh0V2u9Ye"}',
    ),
    Shake(
        "okta-verification-without-authorization",
        "okta",
        ("okta-key",),
        lambda url, now: Signed(b"", OKTA_CHALLENGE, method="GET"),
        401,
        JSON,
        unauthorized("missing_header"),
    ),
    Shake(
        "twitch-callback-verification",
        "twitch",
        ("twitch-secret",),
        twitch_verification("twitch-secret"),
        200,
        TEXT,
        b"pogchamp-kappa-360noscope-vohiyo",
    ),
    Shake(
        "twitch-callback-verification-forged",
        "twitch",
        ("twitch-secret",),
        twitch_verification("not-the-secret"),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
]


MIRO_CHALLENGE = b'{"challenge":"c273e4a3-01cf-4505-9bc4-27a37dd83c1d"}'
SHAKES += [
    Shake(
        "miro-challenge",
        "miro",
        ("miro-url-secret",),
        lambda url, now: Signed(MIRO_CHALLENGE, {"content-type": JSON}, "?secret=miro-url-secret"),
        200,
        JSON,
        b'{"challenge": "c273e4a3-01cf-4505-9bc4-27a37dd83c1d"}',
    ),
    Shake(
        "miro-challenge-guessed-url",
        "miro",
        ("miro-url-secret",),
        lambda url, now: Signed(MIRO_CHALLENGE, {"content-type": JSON}, "?secret=guess"),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
]


FRONT_CHALLENGE = {"x-front-challenge": "5ae8c2ab5f1e4c3b"}


def front_challenge(secret: str) -> Build:
    def build(url: str, now: int) -> Signed:
        return Signed(b"{}", verifiers.sign("front", secrets=[secret], body=b"{}", now=now, headers=FRONT_CHALLENGE))

    return build


SHAKES += [
    Shake(
        "front-challenge",
        "front",
        ("front-secret",),
        front_challenge("front-secret"),
        200,
        JSON,
        b'{"challenge": "5ae8c2ab5f1e4c3b"}',
    ),
    Shake(
        "front-challenge-forged",
        "front",
        ("front-secret",),
        front_challenge("not-the-secret"),
        401,
        JSON,
        unauthorized("signature_mismatch"),
    ),
]


def test_every_provider_with_a_handshake_has_a_handshake_row() -> None:
    no_handshake = lookup("stripe").handshake
    with_handshake = {name for name in verifiers.providers() if lookup(name).handshake is not no_handshake}
    assert {shake.provider for shake in SHAKES} == with_handshake
    assert len({shake.id for shake in SHAKES}) == len(SHAKES)


@pytest.mark.parametrize(
    "shake",
    [
        pytest.param(
            shake, id=shake.id, marks=[pytest.mark.xfail(strict=True, reason=shake.xfail)] if shake.xfail else []
        )
        for shake in SHAKES
    ],
)
async def test_handshake_is_answered_and_stores_nothing(
    settings: Settings, seed: Seed, redis: Redis, shake: Shake
) -> None:
    await seed_integration(seed, shake.provider, shake.secrets)
    request = shake.build(webhook_url(shake.provider), int(time.time()))
    async with running(settings) as http:
        response = await send(http, shake.provider, request)
    assert response.status_code == shake.status
    assert response.headers.get("content-type") == shake.content_type
    assert response.content == shake.body
    assert {name: response.headers.get(name) for name in shake.headers} == shake.headers
    assert await redis.exists(KEYS.ingest) == 0


async def test_event_before_any_secret_is_configured_is_401_missing_secret(
    settings: Settings, seed: Seed, redis: Redis
) -> None:
    """An integration with no secrets yet rejects events (missing_secret) instead of storing them."""
    await seed_integration(seed, "asana", [])
    async with running(settings) as http:
        response = await http.post(
            webhook_path("asana"), content=test_asana.BODY, headers=test_asana.sign(test_asana.BODY, secret="x")
        )
    assert (response.status_code, response.json()) == (401, {"error": "missing_secret"})
    assert await redis.exists(KEYS.ingest) == 0


async def integration_secrets(registry: Registry) -> list[str]:
    record = await registry.get("integration", INTEGRATION)
    assert isinstance(record, Integration)
    return [secret.get_secret_value() for secret in record.secrets]


async def test_asana_hook_secret_from_an_unexpected_handshake_is_answered_but_never_armed(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    """Trust on first use would let whoever sends the first handshake pick the key: the value is captured for
    the operator instead (the router arms one only while creating the subscription: test_handshakes.py)."""
    await seed_integration(seed, "asana", [])
    async with running(settings) as http:
        answered = await send(http, "asana", asana_handshake("", 0))
    assert (answered.status_code, answered.headers["x-hook-secret"]) == (200, HOOK_SECRET)
    assert await integration_secrets(registry) == []
    assert await redis.exists(KEYS.ingest) == 0  # the handshake itself is not stored
    event = Signed(test_asana.BODY, test_asana.sign(test_asana.BODY, secret=HOOK_SECRET))
    async with running(settings) as http:  # a fresh snapshot: no waiting on the refresher
        refused = await send(http, "asana", event)
    assert (refused.status_code, refused.json()) == (401, {"error": "missing_secret"})
    assert await redis.exists(KEYS.ingest) == 0


async def test_notion_verification_token_is_not_a_signing_key_until_activated(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    """The token is captured for the operator (see test_diagnostics); an unauthenticated POST never arms it."""
    await seed_integration(seed, "notion", [])
    async with running(settings) as http:
        answered = await send(http, "notion", notion_handshake("", 0))
    assert answered.status_code == 200
    assert await integration_secrets(registry) == []
    event = Signed(test_notion.BODY, test_notion.sign(test_notion.BODY, secret=NOTION_TOKEN))
    async with running(settings) as http:
        rejected = await send(http, "notion", event)
    assert (rejected.status_code, rejected.json()) == (401, {"error": "missing_secret"})
    assert await redis.exists(KEYS.ingest) == 0


async def test_handshake_does_not_replace_an_existing_secret(
    settings: Settings, seed: Seed, redis: Redis, registry: Registry
) -> None:
    """Anyone can send Asana's unauthenticated handshake: it must not install their key next to ours."""
    await seed_integration(seed, "asana", [test_asana.SECRET])
    attacker = "attacker-chosen-secret"
    async with running(settings) as http:
        answered = await send(http, "asana", Signed(b"", {"x-hook-secret": attacker}))
    assert answered.status_code == 200
    assert await integration_secrets(registry) == [test_asana.SECRET]
    forged = Signed(test_asana.BODY, test_asana.sign(test_asana.BODY, secret=attacker))
    genuine = Signed(test_asana.BODY, test_asana.sign(test_asana.BODY))
    async with running(settings) as http:
        rejected = await send(http, "asana", forged)
        accepted = await send(http, "asana", genuine)
    assert (rejected.status_code, rejected.json()) == (401, {"error": "signature_mismatch"})
    assert accepted.status_code == 200
    assert await redis.xlen(KEYS.ingest) == 2


async def test_xero_intent_to_receive_rejection_has_no_body(settings: Settings, seed: Seed, redis: Redis) -> None:
    await seed_integration(seed, "xero", [test_xero.SECRET])
    async with running(settings) as http:
        response = await send(http, "xero", Signed(test_xero.ITR, test_xero.sign(test_xero.ITR, secret="wrong")))
    assert response.status_code == 401
    assert response.content == b""
