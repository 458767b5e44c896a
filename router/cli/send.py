"""``hookrouter send PROVIDER``: a sample event, signed as the provider signs it, POSTed to the running router.

The integration (``--integration``, or the only one of that type) gives the secret to sign with (its first active
one) and the path; the tenant id is ``--provider-id``, or the ``provider_id`` of the integration's first credential,
so that the event routes. The signature is the provider's own, made by ``verifiers.sign_request``; the URL a
URL-signing scheme signs is the integration's public URL (or ``HOOKROUTER_PUBLIC_URL``) plus the path, as the
receiver checks it. The request goes to ``--url`` (default: ``HOOKROUTER_HOST:HOOKROUTER_PORT``, where ``serve``
listens), through the client without the egress policy: it is this machine's own router.

It prints the answer, then the routing outcome of each stored event once a worker has routed it (up to ``--wait-s``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import typer

import verifiers
from router.cli.context import in_process
from router.cli.errors import CliError
from router.cli.samples import SPECS, Sample, sample
from router.egress.transport import local_client
from router.routing.outcomes import RoutingOutcomes
from router.runtime.process import build_registry, connect
from router.settings import Settings
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore
from subscriptions.models import Integration
from subscriptions.snapshot import Snapshot, SnapshotCache

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


def _tenant(snapshot: Snapshot, integration: Integration, given: str | None) -> str:
    if given:
        return given
    ids = sorted(
        c.provider_id for c in snapshot.credentials.values() if c.integration == integration.id and c.provider_id
    )
    return ids[0] if ids else "T0SAMPLE"


def _body(provider: str, tenant: str, event_type: str | None, body_file: Path | None) -> tuple[Sample, str]:
    if body_file is not None:
        return Sample(body_file.read_bytes(), {"content-type": "application/json"}), event_type or ""
    if provider not in SPECS:
        raise CliError(
            f"no sample event for {provider}: give --body FILE with one of its example payloads "
            f"(samples: {', '.join(sorted(SPECS))})"
        )
    return sample(provider, tenant, event_type)


async def _outcomes(settings: Settings, ids: list[str], wait_s: float) -> dict[str, dict[str, Any]]:
    redis = connect(settings)
    try:
        keys = Keys(settings.prefix)
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


async def _send(settings: Settings, args: SendArgs) -> int:
    redis = connect(settings)
    try:
        snapshot = await SnapshotCache(build_registry(settings, redis), refresh_s=settings.registry_refresh_s).refresh()
    finally:
        await redis.aclose()
    integration = _integration(snapshot, args.provider, args.integration)
    secrets = [s.get_secret_value() for s in integration.secrets]
    tenant = _tenant(snapshot, integration, args.provider_id)
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
    try:
        signed = verifiers.sign_request(
            args.provider, secrets=secrets, body=made.body, url=public + path if public else "", headers=made.headers
        )
    except (ValueError, verifiers.VerificationError) as exc:  # NotSignable is a ValueError
        raise CliError(f"cannot sign a {args.provider} event: {exc}") from None
    target = args.url.rstrip("/") + path
    typer.echo(f"POST {target}  ({args.provider} {event_type or 'event'} for provider id {tenant})", err=True)
    async with local_client(timeout_s=10) as http:
        try:
            answer = await http.post(target, content=signed.body, headers=signed.headers)
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            raise CliError(f"cannot reach hookrouter at {args.url}: {why} (is `hookrouter serve` running?)") from None
    typer.echo(f"{answer.status_code} {answer.text.strip()}")
    if not answer.is_success:
        return 1
    ids = [str(i) for i in answer.json().get("ids", [])] if "json" in answer.headers.get("content-type", "") else []
    if ids:
        outcomes = await _outcomes(settings, ids, args.wait_s)
        for event_id in ids:
            typer.echo(f"{event_id}  {_describe(outcomes.get(event_id))}")
        typer.echo(f"details: hookrouter events show {ids[0]}", err=True)
    return 0


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
) -> None:
    """Send a sample event of PROVIDER, signed with its integration's secret, and show how it was routed."""
    if provider not in verifiers.providers():
        raise typer.BadParameter(f"unknown provider {provider!r}", param_hint="PROVIDER")

    def run(settings: Settings) -> Any:
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
        return _send(settings, args)

    if in_process(run, join=True):
        raise typer.Exit(1)
