"""``hookrouter send PROVIDER``: a sample event, signed as the provider signs it, POSTed to the running router.

The integration (``--integration``, or the only one of that type) gives the secret to sign with (its first active
one) and the path; the tenant id is ``--provider-id``, or the ``provider_id`` of the integration's first credential,
so that the event routes. The signature is the provider's own, made by ``verifiers.sign_request``; the URL a
URL-signing scheme signs is the integration's public URL (or ``HOOKROUTER_PUBLIC_URL``) plus the path, as the
receiver checks it. The request goes to ``--url`` (default: ``HOOKROUTER_HOST:HOOKROUTER_PORT``, where ``serve``
listens), through the client without the egress policy: it is this machine's own router.

The sample is the provider's in ``verifiers.samples`` (one for every provider a secret can sign), with the tenant id
and a fresh delivery id filled in. A provider that signs with its own private key (PayPal, Pub/Sub, Discord, ...)
cannot be imitated with what the integration holds: ``send`` says so in one line.

It prints the answer, then the routing outcome of each stored event once a worker has routed it (up to ``--wait-s``);
``--json`` prints both as one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import typer

import verifiers
from router.cli.context import in_process
from router.cli.errors import CliError
from router.cli.output import JsonOption, echo_json
from router.egress.transport import local_client
from router.routing.outcomes import RoutingOutcomes
from router.runtime.process import build_registry, connect
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.models import Integration
from subscriptions.snapshot import Snapshot, SnapshotCache
from verifiers import samples

PATH = "/webhook/triggers/connect/{type}/{id}"


def _integration(snapshot: Snapshot, provider: str, wanted: str | None) -> Integration:
    if wanted is not None:
        found = snapshot.integrations.get(wanted)
        if found is None:
            raise CliError(f"no integration {wanted!r} in the registry")
        if found.type != provider:
            raise CliError(f"integration {wanted!r} is of type {found.type}, not {provider}")
        return found
    matching = sorted(i.id for i in snapshot.integrations.values() if i.type == provider)
    if len(matching) != 1:
        if not matching:
            raise CliError(f"no integration of type {provider} in the registry (hookrouter apply adds one)")
        raise CliError(
            f"several integrations of type {provider} ({', '.join(matching)}): choose one with --integration"
        )
    return snapshot.integrations[matching[0]]


def _tenant(snapshot: Snapshot, integration: Integration, given: str | None, default: str) -> str:
    if given:
        return given
    ids = sorted(
        c.provider_id for c in snapshot.credentials.values() if c.integration == integration.id and c.provider_id
    )
    return ids[0] if ids else default


def _body(
    provider: str, tenant: str | None, event_type: str | None, body_file: Path | None
) -> tuple[samples.Sample, str]:
    if body_file is not None:
        return samples.Sample(body_file.read_bytes(), {"content-type": "application/json"}), event_type or ""
    spec = samples.spec(provider)
    try:
        made = samples.sample(
            provider, provider_id=tenant, event_type=event_type, delivery_id=str(uuid.uuid4()), now=time.time()
        )
    except ValueError as exc:
        raise CliError(f"{exc}: give --body FILE for another") from None
    return made, event_type or spec.event_type


def _added_query(given: str, signed: str, path: str) -> str:
    """The query a scheme carrying its secret in the URL added (Mailchimp's, PandaDoc's), to send it along."""
    added = signed[len(given) :] if signed.startswith(given) else ""
    if not added.startswith(("?", "&")):
        return ""
    return ("&" if "?" in path else "?") + added[1:]


def _signable(provider: str, body_file: Path | None) -> None:
    """Refuse, in one line, a provider whose signature only the provider can make."""
    if provider not in samples.names():
        if body_file is None:
            raise CliError(f"no sample event for {provider}: give --body FILE with one of its example payloads")
        return
    why = samples.spec(provider).provider_signs
    if why:
        raise CliError(f"cannot sign a {provider} event: {why}; send one from {provider}'s own dashboard or test tool")


async def _outcomes(settings: Settings, ids: list[str], wait_s: float) -> dict[str, dict[str, Any]]:
    redis = connect(settings)
    try:
        keys = Keys.of(settings)
        store = EventStore(redis, maxlen=settings.stream_maxlen, group=ROUTING_GROUP, consumer=settings.consumer_name)
        outcomes = RoutingOutcomes(store, keys)
        deadline = time.monotonic() + wait_s
        while True:
            found = await outcomes.get_many(ids)
            if all(found) or time.monotonic() >= deadline:
                return {i: json.loads(raw) for i, raw in zip(ids, found, strict=True) if raw}
            await asyncio.sleep(0.1)
    finally:
        await redis.aclose()


def _describe(outcome: dict[str, Any] | None) -> str:
    if outcome is None:
        return "not routed yet (is a worker running? `hookrouter serve` runs them unless HOOKROUTER_RUN_WORKERS=false)"
    jobs = outcome.get("jobs", [])
    made = ", ".join(f"{j['workflow']} ({j.get('credential') or j.get('user')})" for j in jobs)
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(outcome.get("skipped", {}).items()))
    return (
        f"{outcome.get('status', '?')}: {len(jobs)} job(s)"
        + (f": {made}" if made else "")
        + (f"; skipped {skipped}" if skipped else "")
    )


@dataclass(frozen=True, slots=True)
class SendArgs:
    provider: str
    integration: str | None
    event_type: str | None
    provider_id: str | None
    credential: str | None
    body: Path | None
    url: str
    wait_s: float


@dataclass(slots=True)
class Sent:
    """What ``send`` did: the request, the router's answer, and the routing outcome of each stored event."""

    target: str
    integration: str
    provider_id: str
    event_type: str
    status: int
    answer: str
    ids: list[str] = field(default_factory=list)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        try:
            answer: Any = json.loads(self.answer)
        except ValueError:
            answer = self.answer
        return {
            "url": self.target,
            "integration": self.integration,
            "provider_id": self.provider_id,
            "event_type": self.event_type,
            "status": self.status,
            "answer": answer,
            "events": [{"id": i, "routing": self.outcomes.get(i)} for i in self.ids],
        }


async def deliver(settings: Settings, args: SendArgs) -> Sent:
    """Sign and POST the sample, then wait (up to ``args.wait_s``) for the stored events to be routed."""
    _signable(args.provider, args.body)
    redis = connect(settings)
    try:
        snapshot = await SnapshotCache(build_registry(settings, redis), refresh_s=settings.registry_refresh_s).refresh()
    finally:
        await redis.aclose()
    integration = _integration(snapshot, args.provider, args.integration)
    secrets = [s.get_secret_value() for s in integration.secrets]
    default = samples.spec(args.provider).tenant if args.provider in samples.names() else ""
    tenant = _tenant(snapshot, integration, args.provider_id, default)
    made, event_type = _body(args.provider, tenant, args.event_type, args.body)
    path = PATH.format(type=integration.type, id=integration.id)
    if args.credential:
        path += "?" + urlencode({"id": args.credential})
    public = (integration.public_url or settings.public_url).rstrip("/")
    if not public and verifiers.signs_url(args.provider):
        raise CliError(
            f"{args.provider} signs the URL it calls: set HOOKROUTER_PUBLIC_URL (as the router has it) or the "
            f"integration's public_url"
        )
    signed_url = public + path if public else ""
    try:
        signed = verifiers.sign_request(
            args.provider, secrets=secrets, body=made.body, url=signed_url, headers=made.headers
        )
    except (ValueError, verifiers.VerificationError) as exc:  # NotSignable is a ValueError
        raise CliError(f"cannot sign a {args.provider} event: {exc}") from None
    target = args.url.rstrip("/") + path + _added_query(signed_url, signed.url, path)
    async with local_client(timeout_s=10) as http:
        try:
            answer = await http.post(target, content=signed.body, headers=signed.headers)
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            raise CliError(f"cannot reach hookrouter at {args.url}: {why} (is `hookrouter serve` running?)") from None
    sent = Sent(target, integration.id, tenant, event_type, answer.status_code, answer.text.strip())
    if answer.is_success and "json" in answer.headers.get("content-type", ""):
        sent.ids = [str(i) for i in answer.json().get("ids", [])]
    if sent.ids:
        sent.outcomes = await _outcomes(settings, sent.ids, args.wait_s)
    return sent


def _print(sent: Sent, provider: str) -> None:
    typer.echo(
        f"POST {sent.target}  ({provider} {sent.event_type or 'event'} for provider id {sent.provider_id})", err=True
    )
    typer.echo(f"{sent.status} {sent.answer}")
    for event_id in sent.ids:
        typer.echo(f"{event_id}  {_describe(sent.outcomes.get(event_id))}")
    if sent.ids:
        typer.echo(f"details: hookrouter events show {sent.ids[0]}", err=True)
    elif 200 <= sent.status < 300:  # Xero wants replies without a body: the ids are not in it
        typer.echo(f"stored events: hookrouter events list --integration {sent.integration}", err=True)


def _providers(incomplete: str) -> list[str]:
    return [p for p in verifiers.signable() if p.startswith(incomplete)]


def send(
    provider: Annotated[
        str, typer.Argument(help="The provider (integration type): slack, github, ...", autocompletion=_providers)
    ],
    integration: Annotated[
        str | None, typer.Option(help="The integration whose secret signs and whose URL receives. Unset: the only one.")
    ] = None,
    event_type: Annotated[str | None, typer.Option("--event-type", help="Event type; unset: a common one.")] = None,
    provider_id: Annotated[
        str | None, typer.Option("--provider-id", help="Tenant id in the event. Unset: a credential's, so it routes.")
    ] = None,
    credential: Annotated[
        str | None, typer.Option(help="Send to the user-level URL of this credential (?id=).")
    ] = None,
    body: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Send this body instead of the sample (any provider)."),
    ] = None,
    url: Annotated[str | None, typer.Option(help="The router's base URL. Unset: where `serve` listens.")] = None,
    wait_s: Annotated[float, typer.Option("--wait-s", min=0, max=60, help="How long to wait for routing.")] = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Send a sample event of PROVIDER, signed with its integration's secret, and show how it was routed."""
    if provider not in verifiers.providers():
        raise typer.BadParameter(f"unknown provider {provider!r}", param_hint="PROVIDER")

    async def run(settings: Settings) -> Sent:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104 (not binding)
        args = SendArgs(
            provider=provider,
            integration=integration,
            event_type=event_type,
            provider_id=provider_id,
            credential=credential,
            body=body,
            url=url or f"http://{host}:{settings.port}",
            wait_s=wait_s,
        )
        return await deliver(settings, args)

    sent = in_process(run, join=True)
    if as_json:
        echo_json(sent.as_json())
    else:
        _print(sent, provider)
    if not 200 <= sent.status < 300:
        raise typer.Exit(1)
