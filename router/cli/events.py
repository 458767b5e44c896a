"""``hookrouter events list|show|tail`` and ``hookrouter replay``: stored events and their replay, from a shell.

``replay`` runs in this process (not through the workers' queue) with a progress bar, throttled like any
replay; Ctrl-C stops it after the batch in hand, and the same ``--request-id`` resumes it where it stopped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer
from redis.asyncio import Redis
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from router.cli.context import in_process
from router.cli.errors import CliError
from router.cli.output import JsonOption, echo_json, id_column, text_column
from router.delivery.outcomes import DeliveryRecords
from router.history.indexes import EventFilter, EventIndex
from router.history.replay import ReplayConfig, Replayer
from router.history.replay_jobs import FINISHED, ReplayConflict, ReplayJob, ReplayJobs, ReplayRequest
from router.history.replay_jobs import parse_when as _parse_when
from router.ingress.sdk.responses import iso_ms
from router.routing.outcomes import RoutingOutcomes
from router.runtime.process import build_registry, connect
from router.settings import Settings
from router.storage.entries import IngestEvent
from router.storage.keys import ROUTING_GROUP, Keys
from router.storage.store import EventStore, StoredEvent
from router.storage.stream_id import StreamId
from subscriptions.snapshot import SnapshotCache

events_cli = typer.Typer(help="Look at stored events.", no_args_is_help=True)
console = Console()

Integration = Annotated[str | None, typer.Option(help="Integration id.")]
# The admin API's event statuses (router.history.indexes.STATUSES), spelled out so the shell can complete them.
StatusName = Literal["received", "routed", "unmatched", "delivered", "failed", "dead"]
Status = Annotated[
    StatusName | None,
    typer.Option(
        help="The event's status, as the admin API's `status`: received (not routed yet), routed (trigger jobs "
        "made), unmatched, delivered, failed or dead.",
    ),
]
Since = Annotated[str | None, typer.Option(help="Received at or after: ISO date/time or 30m, 2h, 3d (ago).")]
Until = Annotated[str | None, typer.Option(help="Received before: ISO date/time or 30m, 2h, 3d (ago).")]
Credential = Annotated[str | None, typer.Option(help="Credential id.")]
User = Annotated[str | None, typer.Option(help="Connected user id.")]
EventType = Annotated[str | None, typer.Option("--event-type", help="Provider event type.")]


@dataclass(frozen=True, slots=True)
class Ctx:
    settings: Settings
    redis: Redis
    keys: Keys
    store: EventStore


@asynccontextmanager
async def _connected(settings: Settings) -> AsyncIterator[Ctx]:
    redis = connect(settings)
    try:
        keys = Keys.of(settings)
        store = EventStore(redis, maxlen=settings.stream_maxlen, group=ROUTING_GROUP, consumer=settings.consumer_name)
        yield Ctx(settings, redis, keys, store)
    finally:
        await redis.aclose()


def _when(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        return _parse_when(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _filter(**values: Any) -> EventFilter:
    return EventFilter(
        **{k: v for k, v in values.items() if k not in ("since", "until")},
        after_ms=_when(values["since"], "--since"),
        before_ms=_when(values["until"], "--until"),
    )


# -- events list / show / tail -----------------------------------------------------------------


# An event's summary: the admin API's names (GET /api/events), `routing` being its routing outcome's status.
COLUMNS = ("id", "received_at", "integration", "provider_id", "event_type", "status", "routing", "jobs", "replay_of")


async def _rows(ctx: Ctx, events: list[StoredEvent]) -> list[dict[str, Any]]:
    index = EventIndex(ctx.redis, ctx.keys)
    outcomes = await RoutingOutcomes(ctx.store, ctx.keys).get_many([e.id for e in events])
    rows = []
    for stored, raw in zip(events, outcomes, strict=True):
        routing: dict[str, Any] = json.loads(raw) if raw else {"status": "received"}
        event = IngestEvent.lenient(stored.fields, stored.id)
        received = int(event.received_at or 0)
        rows.append(
            {
                "id": stored.id,
                "received_at": iso_ms(received) if received else None,
                "integration": event.integration,
                "provider_id": event.provider_id,
                "event_type": event.event_type,
                "status": await index.status_of(stored.id),
                "routing": routing.get("status", ""),
                "jobs": [job["job_id"] for job in routing.get("jobs", [])],
                "replay_of": event.replay_of or None,
            }
        )
    return rows


def _cells(row: dict[str, Any]) -> list[str]:
    return [str(len(v)) if k == "jobs" else (v or "") for k, v in row.items()]


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table(id_column(), *(text_column(c) for c in COLUMNS[1:]))
    for row in rows:
        table.add_row(*(Text(v) for v in _cells(row)))  # stored values came from webhooks: text, never Rich markup
    return table


@events_cli.command("list")
def events_list(
    integration: Integration = None,
    credential: Credential = None,
    user: User = None,
    event_type: EventType = None,
    status: Status = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    as_json: JsonOption = False,
) -> None:
    """Stored events, newest first, with their status; filtered through the write-time indexes."""
    flt = _filter(
        integration=integration,
        credential=credential,
        user=user,
        event_type=event_type,
        status=status,
        since=since,
        until=until,
    )

    async def run(settings: Settings) -> tuple[list[dict[str, Any]], int]:
        async with _connected(settings) as ctx:
            page = await EventIndex(ctx.redis, ctx.keys).query(flt, limit=limit)
            return await _rows(ctx, await ctx.store.get_events(ctx.keys, page.ids)), page.total

    rows, total = in_process(run, join=True)
    if as_json:
        echo_json({"data": rows, "total": total})
        return
    console.print(_table(rows))
    console.print(f"{len(rows)} of {total} matching events")


async def _detail(ctx: Ctx, event: StoredEvent) -> dict[str, Any]:
    raw = await RoutingOutcomes(ctx.store, ctx.keys).get(event.id)
    routing: dict[str, Any] = json.loads(raw) if raw else {"status": "received", "jobs": []}
    jobs: list[dict[str, Any]] = []
    for job in routing.get("jobs", []):
        record: dict[str, Any] = await DeliveryRecords(ctx.redis, ctx.keys).history(job["job_id"])
        if "attempts" in record:
            record["attempts"] = json.loads(record["attempts"])
        jobs.append({**job, "delivery": record or None})
    entry = IngestEvent.lenient(event.fields, event.id)
    try:
        text: str | None = entry.body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {
        "id": event.id,
        "source": entry.source,
        "project": entry.project,
        "integration": entry.integration,
        "integration_type": entry.integration_type,
        "provider_id": entry.provider_id,
        "credential": entry.credential,
        "event_type": entry.event_type,
        "delivery_id": entry.delivery_id,
        "received_at": iso_ms(int(entry.received_at or 0)),
        "status": await EventIndex(ctx.redis, ctx.keys).status_of(event.id),
        "replay_of": entry.replay_of or None,
        "replay": entry.replay or None,
        "headers": json.loads(entry.headers or "{}"),
        "body": text,
        "body_bytes": len(entry.body),
        "routing": {k: v for k, v in routing.items() if k != "jobs"},
        "jobs": jobs,
    }


@events_cli.command("show")
def events_show(
    event_id: Annotated[str, typer.Argument(help="Event (ingest stream entry) id.")],
    as_json: JsonOption = False,
) -> None:
    """One event as JSON: headers, body, routing outcome, every trigger job and its delivery attempts.

    Coloured on a terminal; plain JSON with --json or when piped."""

    async def run(settings: Settings) -> dict[str, Any] | None:
        async with _connected(settings) as ctx:
            found = await ctx.store.get_events(ctx.keys, [event_id])
            return await _detail(ctx, found[0]) if found else None

    detail = in_process(run, join=True) if StreamId.is_valid(event_id, event=True) else None
    if detail is None:
        typer.echo(f"hookrouter: no stored event {event_id}", err=True)
        raise typer.Exit(1)
    if as_json or not console.is_terminal:
        echo_json(detail)
    else:
        console.print_json(data=detail)


@events_cli.command("tail")
def events_tail(
    integration: Integration = None,
    interval_s: Annotated[float, typer.Option(min=0.05, max=60, help="Seconds between polls.")] = 1.0,
    stop_after_s: Annotated[float | None, typer.Option(hidden=True)] = None,
    as_json: JsonOption = False,
) -> None:
    """Print new events as they are stored, until Ctrl-C (with --json: one JSON object a line)."""

    async def run(settings: Settings) -> None:
        async with _connected(settings) as ctx:
            shards = ctx.keys.every_shard
            after: dict[int, str] = {}  # per shard: its last event seen
            for shard in shards:
                latest = await ctx.store.latest(shard.ingest, 1)
                after[shard.index] = latest[0].id if latest else "-"
            deadline = None if stop_after_s is None else time.monotonic() + stop_after_s
            while deadline is None or time.monotonic() < deadline:
                # Bounded: at most 100 entries a poll, so a burst is printed over several polls, not one read.
                events = []
                for shard in shards:
                    found = await ctx.store.scan(shard.ingest, after=after[shard.index], count=100)
                    if found:
                        after[shard.index] = found[-1].id
                    events += found
                events.sort(key=lambda e: StreamId.parse(e.id, event=True))  # the shards' events in time order
                if events:
                    shown = [e for e in events if integration in (None, IngestEvent.lenient(e.fields).integration)]
                    for row in await _rows(ctx, shown):
                        if as_json:
                            echo_json(row, lines=True)
                        else:
                            console.print(Text("  ".join(v for v in _cells(row) if v)), soft_wrap=True)
                    continue
                await asyncio.sleep(interval_s)

    typer.echo("following new events; Ctrl-C to stop", err=True)
    with suppress(KeyboardInterrupt):
        in_process(run, join=True)


# -- replay ----------------------------------------------------------------------------------


def replay(
    since: Since = None,
    until: Until = None,
    integration: Integration = None,
    credential: Credential = None,
    user: User = None,
    event_type: EventType = None,
    status: Status = None,
    event_id: Annotated[str | None, typer.Option("--event-id", help="Replay this one event instead.")] = None,
    mode: Annotated[
        Literal["reroute", "redeliver"],
        typer.Option(help="reroute (today's registry) or redeliver (its original jobs)."),
    ] = "reroute",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count what would be replayed; write nothing.")] = False,
    request_id: Annotated[
        str | None, typer.Option(help="Idempotency key: the same id again replays nothing more (or resumes).")
    ] = None,
) -> None:
    """Replay stored events in this process, throttled (HOOKROUTER_REPLAY_RATE_PER_S), with a progress bar."""
    if event_id is None and since is None:
        raise typer.BadParameter("give --since (and optionally --until), or --event-id", param_hint="--since")
    flt = None
    if event_id is None:
        flt = _filter(
            integration=integration,
            credential=credential,
            user=user,
            event_type=event_type,
            status=status,
            since=since,
            until=until,
        )
    rid = request_id or f"cli-{uuid.uuid4().hex[:16]}"
    try:
        req = ReplayRequest(rid, mode=mode, dry_run=dry_run, event_id=event_id, filter=flt)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    started = time.monotonic()
    relative = _relative(since) or _relative(until)
    job = in_process(lambda settings: _replay(settings, req, relative), join=True)
    _summary(job, time.monotonic() - started)
    if job.status == "failed":
        raise typer.Exit(1)
    if job.status not in FINISHED:
        console.print(f"[yellow]stopped; run again with --request-id {escape(rid)} to carry on[/]")
        raise typer.Exit(130)


def _relative(text: str | None) -> bool:
    return text is not None and text.strip()[-1:].isalpha() and not text.strip().endswith("Z")


def _untimed(req: ReplayRequest) -> ReplayRequest:
    if req.filter is None:
        return req
    return dataclasses.replace(req, filter=dataclasses.replace(req.filter, after_ms=None, before_ms=None))


async def _job(jobs: ReplayJobs, req: ReplayRequest, relative: bool) -> ReplayJob:
    """The job of this request id: new, or the one an earlier run made (to resume it or report it done)."""
    try:
        job, _ = await jobs.create(req, queue=False)
        return job
    except ReplayConflict:
        existing = await jobs.get(req.request_id)
    # "--since 2h" means two hours before the FIRST run: the same command again is the same request.
    if existing is not None and relative and _untimed(existing.request) == _untimed(req):
        return existing
    raise CliError(f"request id {req.request_id} belongs to a replay with other parameters")


async def _replay(settings: Settings, req: ReplayRequest, relative: bool) -> ReplayJob:
    console.print(f"replay [bold]{escape(req.request_id)}[/] ({req.mode}{', dry run' if req.dry_run else ''})")
    async with _connected(settings) as ctx:
        cache = SnapshotCache(build_registry(settings, ctx.redis), refresh_s=settings.registry_refresh_s)
        jobs = ReplayJobs(ctx.redis, ctx.keys, record_ttl_s=settings.retention_days * 86_400)
        job = await _job(jobs, req, relative)
        if job.status in FINISHED:
            console.print("[dim]this request id already ran: nothing replayed again[/]")
            return job
        replayer = Replayer(ctx.store, ctx.keys, jobs, cache, ReplayConfig(rate_per_s=settings.replay_rate_per_s))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stopping.set)
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("replay", total=job.total)

            def progress(j: ReplayJob) -> None:
                bar.update(task, completed=j.counts.matched, total=j.total)

            done = await replayer.run(req.request_id, progress=progress, stopping=stopping)
            while (done is None or done.status not in FINISHED) and not stopping.is_set():
                # Another process holds this request: follow its progress, and take over if it lets go.
                await asyncio.sleep(0.5)
                done = await replayer.run(req.request_id, progress=progress, stopping=stopping)
                followed = done or await jobs.get(req.request_id)
                if followed is not None:
                    progress(followed)
            done = done or await jobs.get(req.request_id) or job
            if done.status == "done":
                bar.update(task, completed=done.counts.matched, total=done.total or done.counts.matched)
        loop.remove_signal_handler(signal.SIGINT)
        return done


def _summary(job: ReplayJob, elapsed_s: float) -> None:
    c = job.counts
    started, finished = job.started_at_ms, job.finished_at_ms
    duration_s = (finished - started) / 1000 if started and finished else elapsed_s
    table = Table("matched", "replayed", "skipped", "failed", "jobs", "duration", "rate", title="replay summary")
    rate = f"{c.replayed / duration_s:,.0f} events/s" if duration_s > 0 else "-"
    table.add_row(
        str(c.matched), str(c.replayed), str(c.skipped), str(c.failed), str(c.jobs), f"{duration_s:.2f} s", rate
    )
    console.print(table)
    if c.reasons:
        console.print("not replayed: " + ", ".join(f"{k} {v}" for k, v in sorted(c.reasons.items())))
    if job.request.dry_run:
        console.print("[dim]dry run: nothing was written but the job record[/]")
    console.print(f"status: {job.status}")
