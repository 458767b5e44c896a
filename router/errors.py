"""Router errors.

RouterError
└── StoreUnavailable     Redis could not be reached or answered with an error (→ 503 at the edge)
"""

from __future__ import annotations


class RouterError(Exception):
    """Root of the router's errors."""


class StoreUnavailable(RouterError):
    """The event store (Redis) is unreachable; the caller should answer 503 so the provider retries."""
