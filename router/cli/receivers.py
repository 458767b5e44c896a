"""``hookrouter serve --workers N``: N receiver processes on one listening socket, and one worker process.

The processes share nothing but Redis (and, for ``/metrics``, a directory of metric files): each receiver
holds its own Redis pool, registry snapshot and HTTP clients, exactly as a single ``serve`` does, and the
kernel spreads connections across them. uvicorn's process manager starts them, restarts one that dies and
stops them all on SIGTERM.

The receivers do not run the workers: a consumer name must be stable across restarts (a pending entry is
reclaimed by name), and uvicorn gives its processes no stable index to tell them apart. So when the settings
ask for workers (``HOOKROUTER_RUN_WORKERS``, the default), they run in one more process, as ``hookrouter
worker`` would, under ``HOOKROUTER_CONSUMER_NAME``, serving ``/healthz`` and ``/readyz`` on
``HOOKROUTER_HEALTH_PORT``. Beyond one machine, run receivers and ``hookrouter worker`` separately instead.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess

from router.ingress.http_protocol import BoundedHttpToolsProtocol, Limits, bounded_protocol
from router.settings import Settings

# uvicorn kills a process that does not answer its ping in time (5 s by default); a process answers once it has
# imported the application, which takes seconds on a loaded machine.
HEALTHCHECK_S = 60
STOP_S = 30.0  # the worker process's own grace period (10 s per pass in hand) with room to spare


class ReceiverConfig(uvicorn.Config):
    """uvicorn's config, sent to each receiver process by pickling: the protocol class ``bounded_protocol``
    builds for one server is not importable by name, so its limits travel instead and the class is rebuilt."""

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        http = state["http"]
        if isinstance(http, type) and issubclass(http, BoundedHttpToolsProtocol):
            state["http"] = http.limits
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if isinstance(state["http"], Limits):
            state["http"] = bounded_protocol(state["http"])
        self.__dict__.update(state)


def serve_many(settings: Settings, options: dict[str, Any], workers: int) -> None:
    """Serve ``create_app(settings)`` from ``workers`` processes; the workers in one more, if the settings run them.

    Returns when every process has stopped (SIGTERM or SIGINT to this one stops them all)."""
    own_dir = metrics_directory()
    try:
        _serve_many(settings, options, workers)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def metrics_directory() -> Path | None:
    """Point every process at one directory of metric files (prometheus-client's multiprocess mode), empty.

    ``PROMETHEUS_MULTIPROC_DIR`` if the operator set it (its files from an earlier run are removed: they would
    count twice), else a private temporary directory, returned so that it is removed at exit. Set before any
    process starts: prometheus-client reads it when imported.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None
    path = Path(tempfile.mkdtemp(prefix="hookrouter-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


def _serve_many(settings: Settings, options: dict[str, Any], workers: int) -> None:
    from router.app import create_app, create_worker_app

    receiver_settings = settings.model_copy(update={"run_workers": False})
    config = ReceiverConfig(
        functools.partial(create_app, receiver_settings),
        factory=True,
        workers=workers,
        timeout_worker_healthcheck=HEALTHCHECK_S,
        **options,
    )
    worker: multiprocessing.process.BaseProcess | None = None
    if settings.run_workers:
        worker_options = options | {"port": settings.health_port}
        worker_config = ReceiverConfig(functools.partial(create_worker_app, settings), factory=True, **worker_options)
        worker = multiprocessing.get_context("spawn").Process(
            target=run_server, args=(worker_config,), name="hookrouter-worker"
        )
        worker.start()
    try:
        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
    finally:
        if worker is not None:
            stop_process(worker)


def run_server(config: uvicorn.Config) -> None:
    """The worker process's target: the worker app, as ``hookrouter worker`` serves it, on the health port."""
    config.configure_logging()  # unpickled, not constructed: the JSON log lines are set up here, as uvicorn does
    uvicorn.Server(config).run()


def stop_process(process: multiprocessing.process.BaseProcess) -> None:
    if process.is_alive():
        process.terminate()  # SIGTERM: the worker finishes its passes in hand, as `hookrouter worker` does
    process.join(STOP_S)
    if process.is_alive():
        process.kill()
        process.join()
