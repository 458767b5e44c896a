"""What an operator needs when webhooks of an integration are rejected, or a provider's handshake
handed over a value: recent failures with the verifier's diagnostics, and captured handshake values.

Failure records hold reason codes, header *names*, the scheme tried, timestamp skew, how many secrets
were tried and 8-hex-char fingerprints of expected HMACs: never a secret, a signature value or a body.
Where the scheme compares the secret itself (``verifiers.SECRET_SCHEMES``) there is no fingerprint: a hash of
the secret is a guessing oracle. Records kept before that rule lose theirs when listed.

Captured values (Notion's verification token, Asana's hook secret) are secrets and are sealed with the
registry's master key before they reach Redis.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

import verifiers
from router.history import stats
from router.storage.keys import Keys
from subscriptions.crypto import SecretBox

logger = logging.getLogger(__name__)

KEEP = 50  # per integration: enough to see a pattern, bounded however hard someone hammers the URL

# Handshakes are unauthenticated, so captures are kept first-come rather than newest-first: forged handshakes
# can never push out a real one already kept. One source address fills at most a few places, so a flood from
# one host leaves room for the provider; what does not fit is counted, and the operator can clear the list
# (DELETE .../handshakes) and have the provider resend. Captures lapse after CAPTURE_TTL_S without any.
CAPTURES_KEPT = 20
CAPTURES_PER_SOURCE = 3
CAPTURE_TTL_S = 30 * 86400

_CAPTURE = """
local kept = redis.call('LLEN', KEYS[1])
local from = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local taken = ARGV[5] == '1' or (kept < tonumber(ARGV[3]) and from < tonumber(ARGV[4]))
if taken then
    redis.call('RPUSH', KEYS[1], ARGV[1])
    redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
    redis.call('PEXPIRE', KEYS[1], ARGV[6])
else
    redis.call('HINCRBY', KEYS[2], 'dropped', 1)
end
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if taken then return 1 end
return 0
"""


def _safe(value: Any) -> Any:
    # Diagnostics come from the verifier as plain values; keep only JSON-able scalars and lists of them.
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value][:20]
    return str(value)


def _without_secret_hash(record: dict[str, Any]) -> dict[str, Any]:
    if record.get("scheme") in verifiers.SECRET_SCHEMES:
        record.pop("expected_fingerprints", None)
    return record


def failure_record(
    provider: str, exc: verifiers.VerificationError, header_names: Iterable[str], now: float
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "at": int(now * 1000),
        "provider": provider,
        "reason": exc.reason,
        "headers_seen": sorted({h.lower() for h in header_names})[:50],
    }
    record.update({k: _safe(v) for k, v in exc.diagnostics.items() if k not in record})
    return _without_secret_hash(record)


class BurstSink(Protocol):
    """Counts failed verifications per integration and minute (router.notifications.producers.BurstDetector)."""

    async def failed(self, integration_id: str, project: str, reason: str, now: float) -> None: ...


class Diagnostics:
    def __init__(self, redis: Redis, keys: Keys, box: SecretBox, burst: BurstSink | None = None) -> None:
        self._redis = redis
        self._keys = keys
        self._box = box
        self.burst = burst  # None: no verification_failures events (tests, tools)
        self._capture = redis.register_script(_CAPTURE)

    async def failed(
        self,
        integration_id: str,
        provider: str,
        exc: verifiers.VerificationError,
        header_names: Iterable[str],
        *,
        project: str = "",
    ) -> None:
        record = failure_record(provider, exc, header_names, time.time())
        logger.debug("verification failed", extra={"integration": integration_id, **record})
        key = self._keys.verification_failures(integration_id)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.lpush(key, json.dumps(record, separators=(",", ":")))
                pipe.ltrim(key, 0, KEEP - 1)
                stats.queue_failure(pipe, self._keys, project, int(record["at"]))
                await pipe.execute()
        except (RedisError, OSError):
            pass  # diagnostics are best effort: the 401 goes out whether or not they were kept
        if self.burst is not None:
            await self.burst.failed(integration_id, "", exc.reason, record["at"] / 1000)  # never raises

    async def failures(self, integration_id: str, limit: int = KEEP) -> list[dict[str, Any]]:
        raw = await self._redis.lrange(self._keys.verification_failures(integration_id), 0, limit - 1)
        return [_without_secret_hash(json.loads(item)) for item in raw]

    async def captured(
        self, integration_id: str, purpose: str, value: str, *, activated: bool, source: str = ""
    ) -> bool:
        """Keep a handshake value for the operator, if there is room (an activated one always is kept)."""
        record = {
            "id": secrets.token_hex(8),  # what the activate route names: two captures may share a millisecond
            "at": int(time.time() * 1000),
            "purpose": purpose,
            "activated": activated,
            "source": source,
            "value": self._box.seal(value, context=("capture", integration_id)),
        }
        keys = [self._keys.handshake_captures(integration_id), self._keys.handshake_capture_counts(integration_id)]
        args: list[str | int] = [json.dumps(record, separators=(",", ":")), "source:" + source]
        args += [CAPTURES_KEPT, CAPTURES_PER_SOURCE, int(activated), CAPTURE_TTL_S * 1000]
        return bool(await self._capture(keys=keys, args=args))

    async def captures(self, integration_id: str) -> tuple[list[dict[str, Any]], int]:
        """The kept captures, oldest first, and how many were dropped for want of room."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.lrange(self._keys.handshake_captures(integration_id), 0, -1)
            pipe.hget(self._keys.handshake_capture_counts(integration_id), "dropped")
            raw, dropped = await pipe.execute()
        out = []
        for item in raw:
            record = json.loads(item)
            record["value"] = self._box.open(record["value"], context=("capture", integration_id))
            out.append(record)
        return out, int(dropped or 0)

    async def clear_captures(self, integration_id: str) -> int:
        """Forget every capture of an integration (after the operator acted on them); how many were kept."""
        keys = [self._keys.handshake_captures(integration_id), self._keys.handshake_capture_counts(integration_id)]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.llen(keys[0])
            pipe.execute_command("DEL", *keys)  # queued as is on a cluster too
            kept, _ = await pipe.execute()
        return int(kept)
