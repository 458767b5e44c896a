"""Router errors.

RouterError
└── StoreUnavailable     Redis could not be reached or answered with an error (→ 503 at the edge)
"""

from __future__ import annotations

from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    OutOfMemoryError,
    ReadOnlyError,
    TimeoutError,
    TryAgainError,
)


class RouterError(Exception):
    """Root of the router's errors."""


class StoreUnavailable(RouterError):
    """The event store (Redis) is unreachable; the caller should answer 503 so the provider retries."""


_OUTAGES = (
    ConnectionError,  # includes loading, auth and max-clients failures
    TimeoutError,
    OutOfMemoryError,
    ReadOnlyError,  # a replica after a failover, until clients move to the new primary
    ClusterDownError,
    TryAgainError,
    OSError,
)


def store_outage(exc: BaseException) -> bool:
    """Whether a Redis failure is one that goes away by itself (retry later) rather than a refused command."""
    return isinstance(exc, _OUTAGES)
