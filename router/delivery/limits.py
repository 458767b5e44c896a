"""Per-target delivery limits kept in Redis, so they hold across every worker process.

Three limits guard each target (a workflow's trigger stream or an HTTP endpoint):

- a **rate limit**: GCRA (the generic cell rate algorithm), one timestamp per target: ``burst`` attempts at
  once from idle, then ``rate_per_s`` steadily;
- a **concurrency limit**: leases in a sorted set scored by their deadline, so the lease of a worker that
  crashed mid-attempt expires instead of holding a slot forever;
- a **circuit breaker**: opens after ``breaker_failures`` consecutive failures; after ``breaker_open_s`` exactly
  one caller, across all workers, gets the half-open probe; its success closes the breaker, its failure
  re-opens it for another ``breaker_open_s``.

The delivery worker makes one call before each attempt, ``Limiter.admit``, which checks all three in one
script and commits nothing unless all three pass (no rate token or lease is spent on an attempt that does not
happen). When not admitted, it reschedules the job ``wait_s`` later. After the attempt it calls
``Limiter.done`` with the outcome. The single limits are also exposed on their own (``take_rate``,
``acquire``/``release``, ``allow``/``record``) and ``state`` reports the breaker for the admin API.

Time comes from a clock passed into each call and travels to Redis as integer microseconds: Lua numbers are
doubles, exact for integers up to 2**53 µs (year 2255), and every number a script hands back to Redis is
formatted with ``%.17g``, so nothing is rounded through Redis's own number formatting. Workers' clocks must
agree (NTP): a worker whose clock runs δ ahead may admit up to ``δ × rate_per_s`` attempts early.

Calls made in the same turn of the event loop (a delivery batch admits its jobs at once; attempts end close
together) share one pipeline: each script still runs on its own, in the order called, and each caller gets its
own reply; N concurrent attempts cost about one round trip, not N.

Every key of a target shares the hash tag ``{tgt:<target_id>}`` (``router/storage/keys.py``), which lets the scripts
touch them together on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.errors import StoreUnavailable
from router.storage import scripts
from router.storage.keys import Keys
from router.storage.redis_client import decoded
from router.storage.store import EventStore

Clock = Callable[[], float]
Verdict = Literal["closed", "half_open_probe", "open"]
Reason = Literal["rate", "concurrency", "breaker_open"]

_US = 1_000_000
# An idle breaker hash (failures short of the threshold) is dropped after a week without failures, so deleted
# targets leave nothing behind; a failure counted a week ago is no longer evidence of anything.
_BREAKER_RETENTION_S = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class TargetLimits:
    """Limits of one target. ``TargetLimits.DEFAULT`` applies where a target configures none."""

    DEFAULT: ClassVar[TargetLimits]

    max_concurrency: int = 10
    rate_per_s: float = 50.0
    burst: int = 50  # attempts admitted at once from idle, before the steady rate applies
    breaker_failures: int = 5  # consecutive failures that open the breaker
    breaker_open_s: float = 30.0  # how long it stays open before the half-open probe

    def __post_init__(self) -> None:
        for name in ("max_concurrency", "burst", "breaker_failures"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
                raise ValueError(f"{name} must be an integer from 1 to 1000000, not {value!r}")
        # Above 1e6/s the emission interval drops under the microsecond the scripts count in.
        if not _finite_in(self.rate_per_s, 0.0, 1_000_000.0):
            raise ValueError(f"rate_per_s must be > 0 and <= 1000000, not {self.rate_per_s!r}")
        if not _finite_in(self.breaker_open_s, 0.0, 86_400.0):
            raise ValueError(f"breaker_open_s must be > 0 and <= 86400, not {self.breaker_open_s!r}")


def _finite_in(value: object, low: float, high: float) -> bool:
    """``low < value <= high`` for a real, finite number (bools excluded)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and low < value <= high


TargetLimits.DEFAULT = TargetLimits()


@dataclass(frozen=True, slots=True)
class Admission:
    """Outcome of ``Limiter.admit``: a lease to hand back to ``done``, or how long to wait and why."""

    admitted: bool
    token: str | None = None  # the concurrency lease, when admitted
    probe: bool = False  # this attempt is the breaker's half-open probe
    wait_s: float = 0.0  # when not admitted: reschedule the job this much later
    reason: Reason | None = None  # when not admitted
    limits: TargetLimits = TargetLimits.DEFAULT  # what it was admitted under; done() needs the breaker's


class BreakerState(TypedDict):
    state: Literal["closed", "open"]
    consecutive_failures: int
    opened_at: float | None  # epoch seconds; None when closed
    probe_in_flight: bool


# Shared Lua: every script below is this prelude plus a few lines. Times and waits are integer microseconds.
_PRELUDE = """
local function num(x) return string.format('%.17g', x) end

-- GCRA: returns the wait before a request at `now` conforms (0 if it does) and the arrival time to store.
local function gcra(key, now, interval, burst)
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - burst * interval
  if now < allow_at then return math.ceil(allow_at - now), tat end
  return 0, new_tat
end

-- An absent key means "idle", so keys may expire once their content is stale. Expiry runs on Redis's clock,
-- though, and `now` on the caller's, read before a queue of other calls ran: expire a minute late, or a call
-- carrying a slightly older `now` would find the key gone and be admitted on an empty record.
local EXPIRY_MARGIN_MS = 60000

local function set_tat(key, tat, now)
  redis.call('SET', key, num(tat), 'PX', math.ceil((tat - now) / 1000) + EXPIRY_MARGIN_MS)
end

-- Leases whose deadline passed belong to workers that died or overran: free their slots first.
local function live_leases(key, now)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', num(now))
  return redis.call('ZCARD', key)
end

local function first_deadline(key)
  return tonumber(redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')[2])
end

local function add_lease(key, token, deadline, now)
  redis.call('ZADD', key, num(deadline), token)
  local last = tonumber(redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')[2])
  redis.call('PEXPIRE', key, math.ceil((last - now) / 1000) + EXPIRY_MARGIN_MS)  -- outlives its last lease
end

-- Returns 'closed', 'half_open_probe' (the caller may claim the probe) or 'open', and the wait when open.
local function breaker_check(key, probe_key, now, open_us)
  local b = redis.call('HMGET', key, 'state', 'opened_at')
  if b[1] ~= 'open' then return 'closed', 0 end
  local reopen_at = (tonumber(b[2]) or 0) + open_us
  if now < reopen_at then return 'open', math.ceil(reopen_at - now) end
  local ttl_ms = redis.call('PTTL', probe_key)
  if ttl_ms >= 0 then return 'open', math.max(ttl_ms, 1) * 1000 end  -- a probe is out: its result decides
  return 'half_open_probe', 0
end

local function breaker_record(key, probe_key, now, success, threshold, open_us, retain_ms)
  if success == '1' then
    redis.call('DEL', key, probe_key)
    return 'closed'
  end
  local b = redis.call('HMGET', key, 'state', 'opened_at')
  local state = b[1] or 'closed'
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  if state == 'open' then
    -- A failure after the cool-down is the probe's (or a straggler's): open for another breaker_open_s.
    -- Failures of attempts admitted before the breaker opened only count.
    if now >= (tonumber(b[2]) or 0) + open_us then
      redis.call('HSET', key, 'opened_at', num(now))
      redis.call('DEL', probe_key)
    end
  elseif failures >= threshold then
    redis.call('HSET', key, 'state', 'open', 'opened_at', num(now))
    state = 'open'
  end
  redis.call('PEXPIRE', key, retain_ms)
  return state
end
"""

# KEYS: rate. ARGV: now, interval, burst. Returns the wait (0: taken).
_TAKE_RATE = """
local now = tonumber(ARGV[1])
local wait, tat = gcra(KEYS[1], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
if wait == 0 then set_tat(KEYS[1], tat, now) end
return wait
"""

# KEYS: leases. ARGV: now, max, deadline, token. Returns {1, 0} (leased) or {0, wait until a lease expires}.
_ACQUIRE = """
local now = tonumber(ARGV[1])
if live_leases(KEYS[1], now) >= tonumber(ARGV[2]) then
  return {0, math.ceil(first_deadline(KEYS[1]) - now)}
end
add_lease(KEYS[1], ARGV[4], tonumber(ARGV[3]), now)
return {1, 0}
"""

# KEYS: breaker, probe. ARGV: now, open_us, probe_ttl_ms, token. Returns {verdict, wait}.
_ALLOW = """
local verdict, wait = breaker_check(KEYS[1], KEYS[2], tonumber(ARGV[1]), tonumber(ARGV[2]))
if verdict == 'half_open_probe' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3]) end
return {verdict, wait}
"""

# KEYS: breaker, probe. ARGV: now, success, threshold, open_us, retain_ms. Returns the state after.
_RECORD = """
return breaker_record(KEYS[1], KEYS[2], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5])
"""

# KEYS: rate, leases, breaker, probe. ARGV: now, interval, burst, max, deadline, token, open_us, probe_ttl_ms.
# Checks breaker, rate and concurrency in that order and commits only when all pass.
# Returns {1, verdict, 0} or {0, reason, wait}.
_ADMIT = """
local now = tonumber(ARGV[1])
local verdict, wait = breaker_check(KEYS[3], KEYS[4], now, tonumber(ARGV[7]))
if verdict == 'open' then return {0, 'breaker_open', wait} end
local rate_wait, tat = gcra(KEYS[1], now, tonumber(ARGV[2]), tonumber(ARGV[3]))
if rate_wait > 0 then return {0, 'rate', rate_wait} end
if live_leases(KEYS[2], now) >= tonumber(ARGV[4]) then
  return {0, 'concurrency', math.ceil(first_deadline(KEYS[2]) - now)}
end
set_tat(KEYS[1], tat, now)
add_lease(KEYS[2], ARGV[6], tonumber(ARGV[5]), now)
if verdict == 'half_open_probe' then redis.call('SET', KEYS[4], ARGV[6], 'PX', ARGV[8]) end
return {1, verdict, 0}
"""

# KEYS: leases, breaker, probe. ARGV: token, now, success, threshold, open_us, retain_ms. Returns the state.
_DONE = """
redis.call('ZREM', KEYS[1], ARGV[1])
return breaker_record(KEYS[2], KEYS[3], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6])
"""


def _us(clock: Clock) -> int:
    # round, not int(): 1700000000.01 * 1e6 is 1700000000009999.8, and truncating would drift a step early.
    return round(clock() * _US)


def _check_lease(lease_s: float) -> int:
    if not _finite_in(lease_s, 0.0, 86_400.0):
        raise ValueError(f"lease_s must be > 0 and <= 86400, not {lease_s!r}")
    return math.ceil(lease_s * _US)


def _interval_us(limits: TargetLimits) -> float:
    return _US / limits.rate_per_s  # a float: repr() round-trips exactly, and Lua's tonumber reads it back


def _record_args(limits: TargetLimits) -> list[int]:
    """threshold, open_us, retain_ms, as the breaker_record scripts take them."""
    open_us = math.ceil(limits.breaker_open_s * _US)
    return [limits.breaker_failures, open_us, max(_BREAKER_RETENTION_S, math.ceil(2 * limits.breaker_open_s)) * 1000]


_REASONS: dict[str, Reason] = {"rate": "rate", "concurrency": "concurrency", "breaker_open": "breaker_open"}
_VERDICTS: dict[str, Verdict] = {"closed": "closed", "half_open_probe": "half_open_probe", "open": "open"}


def _closed_or_open(reply: Any) -> Literal["closed", "open"]:
    return "open" if decoded(reply) == "open" else "closed"


class Limiter:
    """Rate limit, concurrency leases and circuit breaker of every target, shared by all workers.

    Args:
        redis: the process's client (injected).
        keys: key builder of this deployment's prefix.
        concurrency_retry_s: the longest wait suggested when a target is at its concurrency limit. The script
            only knows when the oldest lease *expires*; most are released far sooner, so retry well before.
    """

    def __init__(self, redis: Redis, keys: Keys, *, concurrency_retry_s: float = 1.0) -> None:
        if not _finite_in(concurrency_retry_s, 0.0, 3600.0):
            raise ValueError(f"concurrency_retry_s must be > 0 and <= 3600, not {concurrency_retry_s!r}")
        self._redis = redis
        self._keys = keys
        self._concurrency_retry_s = concurrency_retry_s
        self._take_rate = redis.register_script(_PRELUDE + _TAKE_RATE)
        self._acquire = redis.register_script(_PRELUDE + _ACQUIRE)
        self._allow = redis.register_script(_PRELUDE + _ALLOW)
        self._record = redis.register_script(_PRELUDE + _RECORD)
        self._admit = redis.register_script(_PRELUDE + _ADMIT)
        self._done = redis.register_script(_PRELUDE + _DONE)
        self._pending: list[tuple[Any, list[str], list[object], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.round_trips = 0  # pipelines sent; lets tests see the coalescing

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> Limiter:
        """On the client ``store`` uses (its pool and deadline)."""
        return cls(store.redis, keys)

    # -- the worker's two calls --------------------------------------------------------------

    async def admit(self, target_id: str, limits: TargetLimits, lease_s: float, now: Clock = time.time) -> Admission:
        """Check breaker, rate and concurrency at once; lease a slot for ``lease_s`` if all three allow.

        ``lease_s`` should cover the whole attempt (the outbound timeout plus margin): a lease outliving it
        only delays reuse of the slot, one that expires early lets another attempt in. It also bounds the
        half-open probe: if its worker dies, another caller may probe after ``lease_s``.
        """
        lease_us = _check_lease(lease_s)
        token = secrets.token_hex(8)
        at = _us(now)
        args = [at, _interval_us(limits), limits.burst, limits.max_concurrency, at + lease_us, token]
        args += [math.ceil(limits.breaker_open_s * _US), math.ceil(lease_us / 1000)]
        reply = await self._run(self._admit, self._target_keys(target_id), args)
        ok, kind, wait_us = reply
        if int(ok):
            return Admission(True, token=token, probe=decoded(kind) == "half_open_probe", limits=limits)
        reason: Reason = _REASONS[decoded(kind)]
        wait_s = int(wait_us) / _US
        if reason == "concurrency":
            wait_s = min(wait_s, self._concurrency_retry_s)
        return Admission(False, wait_s=wait_s, reason=reason, limits=limits)

    async def done(
        self, target_id: str, admission: Admission, success: bool, now: Clock = time.time
    ) -> Literal["closed", "open"]:
        """Release the attempt's lease and feed its outcome to the breaker; returns the breaker's state.

        ``success`` is whether the *target* worked: count 5xx, 429, timeouts and connection errors as
        failures; a 4xx answer to a bad request is the target working, not failing.
        """
        if not admission.admitted or admission.token is None:
            raise ValueError("done() takes an admitted Admission")
        keys = self._target_keys(target_id)[1:]
        args = [admission.token, _us(now), int(success), *_record_args(admission.limits)]
        return _closed_or_open(await self._run(self._done, keys, args))

    # -- rate limit --------------------------------------------------------------------------

    async def take_rate(self, target_id: str, limits: TargetLimits, now: Clock = time.time) -> float:
        """Take one attempt from the target's rate; 0.0 when taken, else the seconds to wait (nothing taken)."""
        keys = [self._keys.target_rate(target_id)]
        wait_us = await self._run(self._take_rate, keys, [_us(now), _interval_us(limits), limits.burst])
        return int(wait_us) / _US

    # -- concurrency -------------------------------------------------------------------------

    async def acquire(self, target_id: str, limits: TargetLimits, lease_s: float, now: Clock = time.time) -> str | None:
        """Lease one of the target's ``max_concurrency`` slots for ``lease_s``; the token, or None when full."""
        lease_us = _check_lease(lease_s)
        at = _us(now)
        token = secrets.token_hex(8)
        keys = [self._keys.target_leases(target_id)]
        ok, _ = await self._run(self._acquire, keys, [at, limits.max_concurrency, at + lease_us, token])
        return token if int(ok) else None

    async def release(self, target_id: str, token: str) -> None:
        try:
            await self._redis.zrem(self._keys.target_leases(target_id), token)
        except (RedisError, OSError) as exc:
            raise StoreUnavailable("limits store unavailable") from exc

    # -- circuit breaker ---------------------------------------------------------------------

    async def allow(
        self, target_id: str, limits: TargetLimits, now: Clock = time.time, *, probe_ttl_s: float | None = None
    ) -> Verdict:
        """May an attempt go to the target? "half_open_probe" goes to exactly one caller per cool-down.

        The probe's caller must ``record`` its outcome; if it never does, another caller may probe after
        ``probe_ttl_s`` (default: ``breaker_open_s``).
        """
        ttl_ms = math.ceil((limits.breaker_open_s if probe_ttl_s is None else probe_ttl_s) * 1000)
        keys = [self._keys.target_breaker(target_id), self._keys.target_probe(target_id)]
        args = [_us(now), math.ceil(limits.breaker_open_s * _US), max(ttl_ms, 1), secrets.token_hex(8)]
        verdict, _ = await self._run(self._allow, keys, args)
        return _VERDICTS[decoded(verdict)]

    async def record(
        self, target_id: str, limits: TargetLimits, success: bool, now: Clock = time.time
    ) -> Literal["closed", "open"]:
        """Feed one attempt's outcome to the breaker; returns its state afterwards."""
        keys = [self._keys.target_breaker(target_id), self._keys.target_probe(target_id)]
        args = [_us(now), int(success), *_record_args(limits)]
        return _closed_or_open(await self._run(self._record, keys, args))

    async def state(self, target_id: str) -> BreakerState:
        """The target's breaker as stored, for the admin API."""
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hmget(self._keys.target_breaker(target_id), ["state", "failures", "opened_at"])
                pipe.execute_command("EXISTS", self._keys.target_probe(target_id))  # queued as is on a cluster too
                (state, failures, opened_at), probes = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise StoreUnavailable("limits store unavailable") from exc
        is_open = state is not None and decoded(state) == "open"
        return {
            "state": "open" if is_open else "closed",
            "consecutive_failures": int(failures or 0),
            "opened_at": float(decoded(opened_at)) / _US if is_open and opened_at is not None else None,
            "probe_in_flight": bool(probes),
        }

    # -- helpers -----------------------------------------------------------------------------

    def _target_keys(self, target_id: str) -> list[str]:
        k = self._keys
        return [
            k.target_rate(target_id),
            k.target_leases(target_id),
            k.target_breaker(target_id),
            k.target_probe(target_id),
        ]

    async def _run(self, script: Any, keys: Sequence[str], args: Sequence[object]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((script, list(keys), list(args), future))
        flusher = self._flusher
        if flusher is None or flusher.done() or flusher.get_loop() is not future.get_loop():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        while self._pending:
            await asyncio.sleep(0)  # let every call of this loop turn join the pipeline
            batch, self._pending = [call for call in self._pending if not call[3].done()], []
            if not batch:
                continue
            replies: list[Any]
            try:
                self.round_trips += 1
                async with self._redis.pipeline(transaction=False) as pipe:
                    for script, keys, args, _ in batch:
                        await scripts.queue(script, pipe, keys=keys, args=args)
                    replies = await scripts.execute(pipe, raise_on_error=False)
            except (RedisError, OSError) as exc:
                replies = [exc] * len(batch)
            except BaseException:  # cancelled with the process: no caller may wait forever
                for *_, future in batch + self._pending:
                    if not future.done():
                        future.set_exception(StoreUnavailable("limits store unavailable"))
                raise
            for (*_, future), reply in zip(batch, replies, strict=True):
                if future.done():  # its caller was cancelled meanwhile
                    continue
                if isinstance(reply, RedisError | OSError):
                    error = StoreUnavailable("limits store unavailable")
                    error.__cause__ = reply
                    future.set_exception(error)
                else:
                    future.set_result(reply)
