"""Process configuration, read once in the CLI and passed down explicitly."""

from __future__ import annotations

import functools
import ipaddress
import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from router.delivery.retry import RetryPolicy
from router.egress.policy import EgressPolicy
from subscriptions.models import check_base_url

MIB = 1024 * 1024
MIN_ADMIN_TOKEN_CHARS = 32  # ~190 bits as token_urlsafe(32) prints 43: out of reach of guessing over HTTP


def proxy_networks(value: str) -> list[str]:
    """The networks in a comma-separated list of addresses and CIDRs, normalised (host bits cleared)."""
    networks = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            # "*" included: trusting every peer's X-Forwarded-For lets any client choose its own address.
            raise ValueError(f"{entry[:64]!r} is not an IP address or CIDR") from None
    return networks


def failure_addresses(value: str) -> tuple[str, ...]:
    return tuple(a for a in (part.strip() for part in value.split(",")) if a)


@functools.lru_cache(maxsize=8)
def _retry_policy(text: str) -> RetryPolicy:
    # One parse per distinct schedule, shared by the validator and every reader (a RetryPolicy is frozen).
    return RetryPolicy.parse(text)


@functools.lru_cache(maxsize=8)
def _egress_policy(text: str) -> EgressPolicy:
    # As _retry_policy: parsed once by the validator, then shared (an EgressPolicy is frozen).
    return EgressPolicy.parse(text)


class Settings(BaseSettings):
    """Every setting is an environment variable ``HOOKROUTER_<NAME>`` (``REDIS_URL`` also works)."""

    model_config = SettingsConfigDict(env_prefix="HOOKROUTER_", extra="ignore", populate_by_name=True)

    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("HOOKROUTER_REDIS_URL", "REDIS_URL"),
        description="Redis to use (redis://, rediss:// or unix://; redis+cluster://host:port,host:port for a Redis "
        "Cluster). Unset: start an embedded redis-server.",
    )
    data_dir: Path = Field(default=Path(".hookrouter"), description="Embedded Redis data and generated keys.")
    redis_appendfsync: Literal["always", "everysec", "no"] = Field(
        default="always",
        description="When the embedded Redis writes its append-only file to disk: always (before it answers), "
        "everysec (a host crash loses up to 1 s of acknowledged events) or no (the OS decides: up to ~30 s).",
    )
    redis_deadline_s: float = Field(
        default=2.0,
        gt=0,
        le=30,
        description="Longest a request waits on Redis before it is answered 503 with Retry-After, s; also bounds "
        "every Redis command of the workers (plus their blocking reads' own wait).",
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP server binds.")
    port: int = Field(default=8000, ge=0, le=65535, description="Port the HTTP server binds.")
    max_concurrent_requests: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Requests one process handles at once; beyond it a request is answered 503 with Retry-After "
        "at once instead of queueing (/healthz is never refused).",
    )
    max_connections: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        description="Open connections one process accepts; beyond it a new connection is answered 503 overloaded "
        "(with Retry-After) before anything is read, and closed.",
    )
    max_header_bytes: int = Field(
        default=65_536,
        ge=1024,
        le=16 * MIB,
        description="Largest request head (request line and headers), bytes; beyond it 431 headers_too_large.",
    )
    max_headers: int = Field(
        default=100, ge=8, le=10_000, description="Most headers one request may have; beyond it 431 too_many_headers."
    )
    header_timeout_s: float = Field(
        default=10,
        gt=0,
        le=600,
        description="Time a request line and headers may take to arrive, from the connection or the request's "
        "first byte, s; past it 408 request_timeout and the connection is closed.",
    )
    body_timeout_s: float = Field(
        default=30,
        gt=0,
        le=3600,
        description="Time a request body may take to arrive, from the end of the headers, s; past it 408 "
        "request_timeout and the connection is closed.",
    )
    health_port: int = Field(
        default=8001,
        ge=0,
        le=65535,
        description="Port on which `hookrouter worker` (and `serve --workers N`'s worker process) serves /healthz, "
        "/readyz and /metrics (on HOOKROUTER_HOST); 0: none.",
    )
    public_url: str = Field(
        default="",
        description="Base URL providers call (https://hooks.example.com); URL-signing schemes (Twilio, HubSpot, "
        "Trello, Mandrill, monday, Pub/Sub, Gong) check against it, never against the request's Host. Unset: "
        "integrations of those types need their own public_url.",
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses or CIDRs of reverse proxies whose X-Forwarded-For/-Proto are "
        "believed (10.0.0.0/8,127.0.0.1). Unset: proxy headers are ignored.",
    )
    egress_allow: str = Field(
        default="",
        description="Comma-separated addresses or CIDR networks (10.0.0.0/8,::1) the router may send requests to "
        "besides public addresses. Unset: loopback, private, link-local, multicast and other non-public addresses "
        "are refused for every outbound request.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description=f"Bearer token for /api/*, at least {MIN_ADMIN_TOKEN_CHARS} printable ASCII characters without "
        "spaces (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`). Unset: admin API off.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics asks for, with the admin token's rules. Unset: /metrics is open (it "
        "shows counts under route templates and registry ids, never secrets, bodies or event ids); keep the "
        "port off the internet then.",
    )
    master_key: SecretStr | None = Field(
        default=None,
        description="Base64 of 32 random bytes; encrypts secrets at rest. Unset: embedded mode generates one "
        "in the data directory, otherwise startup fails.",
    )
    prefix: str = Field(default="hr", pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Namespace of every Redis key.")
    shards: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Shards of the ingest stream, delivery work and history indexes, by a hash of (integration, "
        "provider ID): 1 on one Redis, e.g. 16 on a cluster, so they spread over its masters. Changing it: see "
        "Running at scale in the README.",
    )
    shards_draining: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="The shard count before a change of HOOKROUTER_SHARDS, while workers drain its shards (and "
        "history still lists them); 0: no change under way.",
    )
    max_body_bytes: int = Field(default=10 * MIB, ge=1, description="Largest accepted webhook body, bytes.")
    stream_maxlen: int = Field(default=10_000_000, ge=1000, description="Approximate cap per stream, entries.")
    registry_refresh_s: float = Field(default=0.25, gt=0, le=1, description="Registry change poll interval, s.")
    consumer_name: str = Field(default_factory=socket.gethostname, description="Stable worker name in groups.")
    route_batch: int = Field(default=100, ge=1, le=10_000, description="Events read per routing batch.")
    route_block_ms: int = Field(default=1000, ge=1, description="How long a worker blocks waiting for events, ms.")
    claim_idle_ms: int = Field(
        default=60_000, ge=1, description="Events pending this long on a silent worker are reclaimed, ms."
    )
    max_deliveries: int = Field(default=5, ge=1, description="Reads of one event before it is dead-lettered.")
    dedup_window_s: int = Field(
        default=86_400, ge=0, description="A provider delivery id seen within this window is a duplicate, s (0: off)."
    )
    dedup_windows: dict[str, int] = Field(
        default_factory=dict,
        description='Per-provider windows overriding dedup_window_s, JSON: {"stripe": 259200}.',
    )
    retry_schedule: str = Field(
        default="5s,5m,30m,2h,5h,10h,10h",
        description="Delays between delivery attempts to HTTP targets (8 attempts over about 27.6 h), "
        "comma-separated with units ms/s/m/h/d; a target may set its own.",
    )
    delivery_in_flight: int = Field(default=50, ge=1, le=10_000, description="Concurrent HTTP attempts per worker.")
    delivery_batch: int = Field(default=50, ge=1, le=10_000, description="Delivery jobs read per batch.")
    delivery_claim_idle_ms: int = Field(
        default=180_000,
        ge=130_000,
        description="Delivery jobs pending this long on a silent worker are reclaimed, ms; above the longest "
        "target timeout (120 s) so a slow delivery is never duplicated.",
    )
    destination_auto_disable_after: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Consecutive failed deliveries after which an event destination is disabled (a success resets).",
    )
    retention_days: int = Field(default=90, ge=1, description="Stored events older than this are trimmed, days.")
    run_workers: bool = Field(default=True, description="Run routing workers inside `serve`.")
    log_level: str = Field(default="INFO", description="Log level of the JSON log lines.")
    access_log_level: str = Field(
        default="INFO",
        pattern=r"^(?i:debug|info|warning)$",
        description="Level of the one log line per HTTP request (DEBUG hides it under the default log level).",
    )
    user_token_leeway_s: float = Field(
        default=60, ge=0, le=600, description="Clock skew allowed on user token iat/exp, s."
    )
    user_token_max_lifetime_s: float = Field(
        default=86400,
        ge=60,
        le=366 * 86400,
        description="A user token whose exp lies further ahead than this is refused (401 token_lifetime_too_long), s.",
    )
    request_trigger_timeout_s: float = Field(
        default=55, gt=0, le=600, description="How long a Request trigger waits for its workflow's response, s."
    )
    lifecycle_interval_s: float = Field(
        default=30, gt=0, le=3600, description="How often workers reconcile provider subscriptions, s."
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server email destinations send through. Unset: email destinations fail."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port; 465 means implicit TLS (SMTPS).")
    smtp_username: str | None = Field(default=None, description="SMTP AUTH user name. Unset: no AUTH.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP AUTH password.")
    smtp_from: str = Field(default="hookrouter@localhost", description="Sender address of notification emails.")
    smtp_starttls: bool = Field(
        default=True,
        description="Require STARTTLS before AUTH and the message; false sends in plain text (a local relay). "
        "Not used on port 465.",
    )
    smtp_timeout_s: float = Field(default=15, gt=0, le=600, description="Longest one email send may take, s.")
    failure_email: str = Field(
        default="",
        max_length=2048,
        description="Comma-separated addresses of every project's default email destination for workflow_failure "
        "events (default-email:<project id>; a destination record of that id replaces it). Needs "
        "HOOKROUTER_SMTP_HOST. Unset: no default destination.",
    )
    execution_url_template: str = Field(
        default="",
        max_length=2048,
        description="Link to one execution in workflow_failure events (data.executionUrl), with {execution_id}, "
        "{workflow_id}, {project_id} and {job_id} replaced: https://dashboard.example.com/executions/{execution_id}. "
        "Unset: the execution in its project's Task History under HOOKROUTER_PUBLIC_URL "
        "(/projects/{project_id}/task-history/workflow-executions/{job_id}), or null when that is unset too.",
    )
    verification_burst_threshold: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description="Failed verifications of one integration within a minute that raise one verification_failures "
        "event for that minute.",
    )
    replay_rate_per_s: float = Field(
        default=200,
        gt=0,
        le=1_000_000,
        description="Events per second one replay appends (reroute) or re-creates jobs for (redeliver); replays also "
        "pause while the live routing backlog is high.",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        # Refused here, by name, rather than by the first command that connects.
        if not value:
            return None  # set but empty: unset, as it always was (the embedded Redis)
        if value.split("://", 1)[0] not in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
            raise ValueError("must be a redis://, rediss://, unix://, redis+cluster:// or rediss+cluster:// URL")
        return value

    @field_validator("admin_token", "metrics_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        # An empty or short token would open /api/* (secrets, replays) to a guess: refuse to start instead.
        if value is None:
            return None
        token = value.get_secret_value()
        if len(token) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_ADMIN_TOKEN_CHARS} characters (it has {len(token)})")
        if not all("!" <= c <= "~" for c in token):
            raise ValueError("must be printable ASCII without spaces (it is sent in an Authorization header)")
        return value

    @field_validator("egress_allow")
    @classmethod
    def _egress(cls, value: str) -> str:
        _egress_policy(value)  # a typo in the allow-list fails at startup, naming the bad entry
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if value:
            check_base_url(value)
        return value

    @field_validator("failure_email")
    @classmethod
    def _failure_email(cls, value: str, info: ValidationInfo) -> str:
        # smtp_host is declared above, so it is validated already (absent from data only if it was invalid).
        if value and not info.data.get("smtp_host"):
            raise ValueError("needs HOOKROUTER_SMTP_HOST: the emails could not be sent")
        for address in failure_addresses(value):
            # The full check is the sender's (it refuses the send); this one catches a pasted list or a typo.
            if len(address) > 254 or address.count("@") != 1 or any(c.isspace() for c in address):
                raise ValueError(f"{address[:64]!r} is not an email address")
        return value

    @property
    def failure_emails(self) -> tuple[str, ...]:
        return failure_addresses(self.failure_email)

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        proxy_networks(value)  # ValueError names the bad entry; bad config fails at startup
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        _retry_policy(value)  # ValueError names what is wrong; bad config fails at startup
        return value

    @property
    def egress_policy(self) -> EgressPolicy:
        """``egress_allow`` as the policy every outbound request follows, parsed when the settings were validated."""
        return _egress_policy(self.egress_allow)

    @property
    def retry_policy(self) -> RetryPolicy:
        """``retry_schedule`` as the policy deliveries follow, parsed when the settings were validated."""
        return _retry_policy(self.retry_schedule)
