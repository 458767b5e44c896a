"""Router errors: one root, a stable ``reason`` code on each, and the HTTP answer where there is one.

``create_app`` maps every ``RouterError`` that reaches Starlette to ``status`` with the body and headers of
``answer()``, in one exception handler; an error without a ``status`` is a bug there (a 500 with its traceback).

    RouterError                        reason                  status
    ├── StoreUnavailable               store_unavailable       503   Redis unreachable, so the caller retries
    ├── BodyTooLarge                   body_too_large          413   router.ingress.webhooks.read_body
    ├── Refused                        its code                its   router.ingress.sdk.caller: an SDK call refused
    ├── TokenRejected                  its code                401/403 router.ingress.sdk.usertoken
    ├── WriteRefused                   its code                its   router.ingress.sdk.users: an SDK write refused
    ├── BadInput                       its code                400   router.ingress.sdk.request_input
    ├── NotStrictJson (ValueError)     not_strict_json         —     router.strict_json
    ├── VerifierUnavailable            verifier_unavailable    —     router.ingress.custom
    ├── MalformedEntry (ValueError)    malformed_entry         —     router.storage.entries: a stored entry unread
    ├── InvalidStreamId (ValueError)   invalid_stream_id       —     router.storage.stream_id
    ├── BadParameter (ValueError)      bad_parameter           400   router.admin.params
    ├── BadFilter (ValueError)         bad_filter              400   router.history.indexes
    ├── ReplayConflict                 replay_conflict         409   router.history.replay_jobs
    ├── RenderError (ValueError)       render_error            —     router.notifications.destinations.webhook
    ├── EmbeddedRedisError (RuntimeError) embedded_redis_failed —   router.runtime.embedded
    ├── PollFailed                     its code                —     router.polling.fetch: a poll that did not complete
    │   └── Unauthorized               http_401                —     the provider refused the access token
    ├── StartupError (RuntimeError)    startup_failed          —     router.runtime.bootstrap: no usable store
    └── CliError                       command_line_error      —     router.cli.errors: one line, exit status 2

The leaves live beside the code that raises them; the ones that are also a ``ValueError`` or ``RuntimeError``
keep that base so callers catching the builtin still do. (``router.egress.policy.AddressRefused`` is an
``httpx.ConnectError`` instead: the transport raises it where httpx's own errors are expected.)
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
    """Root of the router's errors. ``reason`` is a stable, low-cardinality code for logs and metrics."""

    reason: str = "router_error"
    status: int | None = None  # the HTTP answer, for an error that has one

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        """The JSON body and the headers of the HTTP answer; never anything a request carried but ids."""
        return {"error": self.reason}, None


class StoreUnavailable(RouterError):
    """The event store (Redis) is unreachable; the caller should answer 503 so the provider retries."""

    reason = "store_unavailable"
    status = 503

    def answer(self) -> tuple[dict[str, object], dict[str, str] | None]:
        return {"error": self.reason}, {"retry-after": "5"}


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
