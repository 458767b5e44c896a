"""Every Prometheus metric the router exports, and their exposition (``/metrics``).

Labels are bounded: route templates (never raw paths), integration, workflow and destination ids from the
registry (never event, job or request ids), reason codes and status codes from fixed sets. Nothing here holds
a secret, a body or a header value.

Several processes (``serve --workers N``) write to one directory named by ``PROMETHEUS_MULTIPROC_DIR`` (read
by prometheus-client when it is imported), and ``render()`` merges them: counters and histograms add up;
the gauges sampled from Redis at scrape time keep the most recent value; a loop's last heartbeat keeps the
latest of any process.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

# Seconds; from a fast XADD round trip to a delivery's slowest answer.
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_PIPELINE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
MAX_ATTEMPT_LABEL = 10  # attempts past it are counted as "10+"

REQUESTS = Counter(
    "hookrouter_http_requests_total",
    "HTTP requests answered, by route template, integration (when the route names a registered one) and status.",
    ["route", "integration", "status"],
)
REQUEST_SECONDS = Histogram(
    "hookrouter_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
)
VERIFICATION_FAILURES = Counter(
    "hookrouter_verification_failures_total",
    "Webhooks refused because verification failed, by integration and reason code.",
    ["integration", "reason"],
)
EVENTS_STORED = Counter(
    "hookrouter_events_stored_total", "Events appended to the ingest stream, by integration.", ["integration"]
)
DEDUP_HITS = Counter(
    "hookrouter_dedup_hits_total",
    "Provider deliveries already stored (answered 2xx, not stored again), by integration.",
    ["integration"],
)
ROUTED = Counter("hookrouter_events_routed_total", "Events routed, by outcome status.", ["status"])
INGEST_TO_TRIGGER_SECONDS = Histogram(
    "hookrouter_ingest_to_trigger_seconds",
    "From an event's append to the ingest stream to its trigger jobs being written.",
    buckets=_PIPELINE_BUCKETS,
)
DELIVERIES = Counter(
    "hookrouter_deliveries_total",
    "Delivery attempts settled, by target (workflow or destination id), outcome and attempt number.",
    ["target", "outcome", "attempt"],
)
DESTINATION_FAILURES = Counter(
    "hookrouter_destination_failures_total", "Failed deliveries to event destinations, by destination.", ["destination"]
)
DESTINATION_DISABLED = Counter(
    "hookrouter_destination_auto_disabled_total",
    "Event destinations disabled automatically after consecutive failures, by destination.",
    ["destination"],
)
LOOP_RESTARTS = Counter(
    "hookrouter_loop_restarts_total", "Failed passes of a supervised loop (each is retried), by task.", ["task"]
)
LOOP_LAST_BEAT = Gauge(
    "hookrouter_loop_last_beat_timestamp_seconds",
    "Unix time of a supervised loop's last heartbeat (a pass that returned, or a long pass's beat), by task.",
    ["task"],
    multiprocess_mode="max",
)
REDIS_SECONDS = Histogram(
    "hookrouter_redis_command_duration_seconds",
    "Redis round trips (a command, or a pipeline), by operation: the owner of the work, from a bounded set "
    "(router/storage/timing.py). Blocking reads are not observed.",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
)
# Sampled from Redis when /metrics is scraped: the state of the shared store, the same from every process.
BACKLOG = Gauge(
    "hookrouter_stream_backlog",
    "Entries a consumer group has not finished (unread plus pending), by stream and shard.",
    ["stream", "shard"],
    multiprocess_mode="mostrecent",
)
PENDING = Gauge(
    "hookrouter_stream_pending",
    "Entries read by a consumer group and not yet acknowledged, by stream and shard.",
    ["stream", "shard"],
    multiprocess_mode="mostrecent",
)
RETRY_QUEUE = Gauge(
    "hookrouter_retry_queue_depth",
    "Deliveries waiting for their next attempt, by shard.",
    ["shard"],
    multiprocess_mode="mostrecent",
)
DEAD_LETTERS = Gauge(
    "hookrouter_dead_letters", "Entries in a dead-letter stream, by stream.", ["stream"], multiprocess_mode="mostrecent"
)
SCRAPE_ERRORS = Counter(
    "hookrouter_metrics_sample_errors_total", "Scrapes whose Redis sample failed (the gauges keep old values)."
)


def attempt_label(attempt: int) -> str:
    return str(attempt) if attempt < MAX_ATTEMPT_LABEL else f"{MAX_ATTEMPT_LABEL}+"


def render() -> tuple[bytes, str]:
    """The exposition of every metric of this process, or of every process sharing the metrics directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
