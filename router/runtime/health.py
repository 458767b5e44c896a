"""Liveness and readiness, for load balancers and Kubernetes probes.

- ``GET /healthz``: the process is alive (its event loop answers). Never touches Redis, so a slow or frozen
  Redis cannot make an orchestrator restart healthy processes.
- ``GET /readyz``: 200 when Redis answers and accepts a write within the deadline (not out of memory, not a
  read-only replica) and every supervised task of this process has heartbeated within its budget; otherwise
  503 with what is wrong. On a Redis Cluster, also every master answers and says ``cluster_state:ok`` (every
  slot served): one write proves only the master of the probe key's slot. The body names tasks and reasons,
  never keys, ids or values.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError, ReadOnlyError, RedisError, ResponseError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from router.runtime.supervisor import Supervisor
from router.storage import redis_client, timing
from subscriptions.registry import Registry


class Readiness:
    """What ``/readyz`` checks in one process: its Redis, its supervised tasks, its registry."""

    def __init__(
        self, redis: Redis, probe_key: str, supervisor: Supervisor, registry: Registry, *, deadline_s: float
    ) -> None:
        self._redis = redis
        self._probe_key = probe_key
        self._supervisor = supervisor
        self._registry = registry
        self._deadline_s = deadline_s

    async def check(self) -> tuple[bool, dict[str, Any]]:
        redis = await self._redis_state()
        tasks = self._supervisor.health()
        ready = bool(redis["ok"]) and all(t.ok for t in tasks)
        return ready, {
            "status": "ready" if ready else "not_ready",
            "redis": redis,
            "tasks": {t.name: {k: v for k, v in asdict(t).items() if k != "name"} for t in tasks},
            # Skipped records do not make a process unready (the others route), but an operator should know.
            "registry": {"unreadable_records": len(self._registry.unreadable)},
        }

    async def _redis_state(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._deadline_s):
                # A write, not a PING: an out-of-memory Redis or a read-only replica still answers PING.
                await self._redis.set(self._probe_key, str(int(time.time() * 1000)), px=60_000)
                cluster = await redis_client.cluster_state(self._redis)
        except OutOfMemoryError:
            return {"ok": False, "error": "out_of_memory"}
        except ReadOnlyError:
            return {"ok": False, "error": "read_only"}
        except ResponseError as exc:
            return {"ok": False, "error": str(exc).split(" ", 1)[0].lower() or "refused"}  # MISCONF, NOPERM, ...
        except (RedisError, OSError, TimeoutError):
            return {"ok": False, "error": "unavailable"}
        latency_ms = round((time.perf_counter() - started) * 1000, 1)
        if cluster is not None and not cluster["ok"]:
            return {"ok": False, "error": cluster["error"], "masters": cluster["masters"]}
        return {"ok": True, "latency_ms": latency_ms} | ({"masters": cluster["masters"]} if cluster else {})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    readiness: Readiness = request.scope["state"]["readiness"]  # serve's and worker's apps both put it there
    with timing.operation("probe"):  # the worker app has no request observer to say so
        ready, report = await readiness.check()
    return JSONResponse(report, status_code=200 if ready else 503, headers=None if ready else {"retry-after": "5"})


routes = [Route("/healthz", healthz, methods=["GET", "HEAD"]), Route("/readyz", readyz, methods=["GET", "HEAD"])]
