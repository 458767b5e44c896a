"""The loop every background worker runs: one batch after another until stopped, riding out Redis outages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 5.0


async def run_until_stopped(run_once: Callable[[], Awaitable[object]], stopping: asyncio.Event, what: str) -> None:
    """Call ``run_once`` until ``stopping`` is set. While Redis is unreachable, back off exponentially (0.2 s up
    to 5 s) and try again: a worker outlives a Redis restart instead of dying with it."""
    failures = 0
    while not stopping.is_set():
        try:
            await run_once()
            failures = 0
        except (RedisError, OSError) as exc:
            failures += 1
            delay = min(0.1 * 2**failures, MAX_BACKOFF_S)
            logger.warning(
                "%s paused: event store unavailable", what, extra={"error": type(exc).__name__, "retry_in_s": delay}
            )
            await asyncio.sleep(delay)
