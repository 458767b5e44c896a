"""``GET /metrics``: the Prometheus exposition, served by ``serve`` and by ``hookrouter worker`` on its health port.

Counters and histograms are recorded where things happen (``router.metrics``). The state of the shared store
(backlog and pending per stream and shard, the retry queue per shard, dead letters) is read from Redis when Prometheus
scrapes, with the deadline of every other request: a slow or gone Redis costs one scrape's freshness (the
gauges keep their last values and ``hookrouter_metrics_sample_errors_total`` counts it), never the answer.

With ``HOOKROUTER_METRICS_TOKEN`` set the route asks for it as a bearer token (401 otherwise).
"""

from __future__ import annotations

import asyncio
import hmac
import logging

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router import metrics
from router.delivery.outcomes import DeliveryRecords
from router.errors import StoreUnavailable
from router.settings import Settings
from router.storage import timing
from router.storage.keys import DELIVERY_GROUP, DESTINATIONS_GROUP, ROUTING_GROUP, Keys
from router.storage.store import EventStore

logger = logging.getLogger(__name__)


def ingest_shards(keys: Keys) -> list[tuple[str, str]]:
    """(shard, stream) of every ingest shard, those being drained included: the one place the metrics learn the
    shard list."""
    return [(str(k.index), k.ingest) for k in keys.every_shard]


class Sampler:
    """Reads the store's shared state into the sampled gauges, once per scrape."""

    def __init__(self, store: EventStore, keys: Keys, settings: Settings) -> None:
        self._store = store
        self._keys = keys
        self._records = DeliveryRecords.of(store, keys)
        self._deadline_s = settings.redis_deadline_s
        self._token = settings.metrics_token

    def allowed(self, request: Request) -> bool:
        if self._token is None:
            return True
        given = request.headers.get("authorization", "").removeprefix("Bearer ")
        return hmac.compare_digest(given.encode("utf-8", "replace"), self._token.get_secret_value().encode())

    async def sample(self) -> None:
        try:
            with timing.operation("probe"):  # the worker app has no request observer to say so
                async with asyncio.timeout(self._deadline_s):
                    await self._read()
        except (RedisError, OSError, TimeoutError, StoreUnavailable) as exc:
            metrics.SCRAPE_ERRORS.inc()
            logger.warning("metrics sample failed", extra={"error": type(exc).__name__})

    async def _read(self) -> None:
        keys, store = self._keys, self._store
        streams = [("ingest", shard, stream, ROUTING_GROUP) for shard, stream in ingest_shards(keys)]
        streams += [("delivery", str(k.index), k.delivery_jobs, DELIVERY_GROUP) for k in keys.every_shard]
        streams += [("notify", "0", keys.notifications, DESTINATIONS_GROUP)]
        for name, shard, stream, group in streams:
            metrics.BACKLOG.labels(name, shard).set(await store.backlog(stream, group))
            metrics.PENDING.labels(name, shard).set(await store.pending(stream, group))
        for index, depth in (await self._records.waiting()).items():
            metrics.RETRY_QUEUE.labels(str(index)).set(depth)
        shards = keys.every_shard
        for name, dead in (
            ("ingest", [k.ingest_dead for k in shards]),
            ("delivery", [k.delivery_dead for k in shards]),
        ):
            metrics.DEAD_LETTERS.labels(name).set(sum([await store.length(stream) for stream in dead]))


async def metrics_endpoint(request: Request) -> Response:
    sampler: Sampler = request.scope["state"]["metrics"]  # serve's and worker's apps both put it there
    if not sampler.allowed(request):
        return JSONResponse({"error": "unauthorized"}, status_code=401, headers={"www-authenticate": "Bearer"})
    await sampler.sample()
    body, content_type = metrics.render()
    return Response(body, headers={"content-type": content_type})


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
