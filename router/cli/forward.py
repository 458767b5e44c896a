"""``hookrouter forward``: a workflow's trigger jobs, POSTed to a local URL as they arrive (a runner on a laptop).

It reads the workflow's trigger stream as the observer (``OBSERVER_GROUP``), a consumer group of its own: the
workflow's runners still get every job, it gets the jobs stored from when it started, and the acked-entry trim
ignores it. Each job is POSTed as the delivery worker POSTs to an HTTP target (its body, its Content-Type, Standard
Webhooks headers with a stable ``webhook-id``), one line printed per attempt. A 2xx acks the job; anything else
leaves it pending, and it is sent again once it has waited ``--retry-s``. Ctrl-C (or SIGTERM) stops after the
attempt in hand; leaving removes this reader from the group, and the group once no reader is left.

The ``--to`` URL is not checked against the egress policy (``HOOKROUTER_EGRESS_ALLOW``): a local address is what
it is for. The command says so when it starts.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

import typer

from router.cli.context import in_process
from router.cli.errors import CliError
from router.delivery.attempt import Attempt, post_signed
from router.delivery.runner import Job, RunnerClient
from router.delivery.signing import generate_secret, secret_key
from router.delivery.worker import content_type_of, message_id
from router.egress.transport import local_client
from router.runtime.process import build_registry, connect
from router.settings import Settings
from router.storage.keys import OBSERVER_GROUP, Keys
from subscriptions.snapshot import SnapshotCache


@dataclass(frozen=True, slots=True)
class Forwarding:
    workflow: str
    to: str
    secret: str
    retry_s: float
    timeout_s: float


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter("an http:// or https:// URL, such as http://localhost:3000/hook", param_hint="--to")
    return url


def _check_secret(secret: str | None) -> str | None:
    if secret is None:
        return None
    try:
        secret_key(secret)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--secret") from None
    return secret


def _line(job: Job, attempt: Attempt, acked: bool, retry_s: float) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(attempt.at))
    answer = str(attempt.status) if attempt.status is not None else (attempt.error_class or "no answer")
    then = "acked" if acked else f"pending, sent again in {retry_s:g} s"
    return f"{stamp}  {job.id}  {job.entry.event_type or '-'}  -> {answer} ({attempt.duration_ms:.0f} ms) {then}"


async def _check_workflow(settings: Settings, workflow: str) -> None:
    redis = connect(settings)
    try:
        snapshot = await SnapshotCache(build_registry(settings, redis), refresh_s=settings.registry_refresh_s).refresh()
    finally:
        await redis.aclose()
    found = snapshot.workflows.get(workflow)
    if found is None:
        raise CliError(f"no workflow {workflow!r} in the registry (hookrouter apply adds workflows)")
    if found.target.type != "stream":
        raise CliError(
            f"workflow {workflow!r} delivers to its own HTTP target, not to a trigger stream: there is nothing "
            "to forward (give it `target: {type: stream}` while developing)"
        )


async def _forward(settings: Settings, how: Forwarding, new_secret: bool) -> tuple[int, int]:
    await _check_workflow(settings, how.workflow)
    if new_secret:
        typer.echo(f"signing with the new secret {how.secret} (--secret or HOOKROUTER_FORWARD_SECRET to keep one)")
    typer.echo(
        f"forwarding the trigger jobs of workflow {how.workflow} to {how.to}; Ctrl-C to stop "
        "(the egress policy does not apply to --to: local addresses are allowed)",
        err=True,
    )
    block_ms = 500
    redis = connect(settings, block_s=block_ms / 1000)
    consumer = f"{socket.gethostname()}-{os.getpid()}"
    client = RunnerClient(redis, Keys.of(settings), how.workflow, consumer, group=OBSERVER_GROUP)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    sent = acked = 0
    try:
        async with local_client(timeout_s=how.timeout_s) as http:
            while not stopping.is_set():
                # Jobs a non-2xx left pending come back once they have waited retry_s; then the new ones.
                jobs = await client.reclaim(min_idle_ms=int(how.retry_s * 1000), count=10)
                jobs += await client.read(count=10, block_ms=0 if jobs else block_ms)
                for job in jobs:
                    attempt = await post_signed(
                        http,
                        url=how.to,
                        body=job.body,
                        msg_id=message_id(job.id),
                        secrets=[how.secret],
                        timeout_s=how.timeout_s,
                        now=time.time,
                        headers=content_type_of(job),
                    )
                    ok = attempt.status is not None and 200 <= attempt.status < 300
                    if ok:
                        await client.ack(job)
                    sent, acked = sent + 1, acked + ok
                    typer.echo(_line(job, attempt, ok, how.retry_s))
                    if stopping.is_set():
                        break
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        try:
            await client.leave()
        finally:
            await redis.aclose()
    return sent, acked


def forward(
    workflow: Annotated[str, typer.Option("--workflow", "-w", help="The workflow whose trigger jobs to forward.")],
    to: Annotated[str, typer.Option("--to", help="Where to POST each job: http://localhost:3000/hook.")],
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="HOOKROUTER_FORWARD_SECRET",
            help="whsec_... secret the Standard Webhooks signature is made with. Unset: a new one, printed.",
        ),
    ] = None,
    retry_s: Annotated[
        float, typer.Option("--retry-s", min=0.1, max=3600, help="Seconds before a job not answered 2xx is sent again.")
    ] = 5.0,
    timeout_s: Annotated[float, typer.Option("--timeout-s", min=0.1, max=120, help="Longest one POST may take.")] = 10,
) -> None:
    """POST a workflow's trigger jobs to a local URL as they arrive, signed, until Ctrl-C.

    Reads the jobs in a consumer group of its own: the workflow's runners are untouched. A 2xx acks a job;
    anything else sends it again after --retry-s. The --to URL is not held to the egress policy."""
    how = Forwarding(workflow, _check_url(to), _check_secret(secret) or generate_secret(), retry_s, timeout_s)
    sent, acked = in_process(lambda settings: _forward(settings, how, secret is None), join=True)
    typer.echo(f"stopped: {sent} sent, {acked} acked", err=True)
