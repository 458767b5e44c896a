from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from router.delivery.limits import Admission, Limiter, TargetLimits
from router.errors import StoreUnavailable
from router.storage.keys import Keys

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
KEYS = Keys("hr")


class FakeClock:
    def __init__(self) -> None:
        # Steps add up on a small offset: summed onto 1.7e9 directly, a hundred 0.01 s steps drift by µs.
        self.elapsed_s = 0.0

    def __call__(self) -> float:
        return T0 + self.elapsed_s

    def advance(self, s: float) -> None:
        self.elapsed_s += s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(redis: Redis) -> Limiter:
    return Limiter(redis, KEYS)


@pytest.fixture
async def other(redis: Redis, redis_url: str) -> AsyncIterator[Limiter]:
    """A second limiter on its own connection pool (and str replies), standing in for another worker."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield Limiter(client, KEYS)
    await client.aclose()


# -- configuration -----------------------------------------------------------------------------


def test_defaults() -> None:
    assert TargetLimits() == TargetLimits.DEFAULT
    assert TargetLimits.DEFAULT.max_concurrency == 10
    assert TargetLimits.DEFAULT.rate_per_s == 50.0
    assert TargetLimits.DEFAULT.burst == 50
    assert TargetLimits.DEFAULT.breaker_failures == 5
    assert TargetLimits.DEFAULT.breaker_open_s == 30.0


@pytest.mark.parametrize(
    "overrides",
    [
        {"max_concurrency": 0},
        {"max_concurrency": True},
        {"max_concurrency": 2.5},
        {"burst": 0},
        {"burst": 10_000_000},
        {"breaker_failures": 0},
        {"rate_per_s": 0},
        {"rate_per_s": -1.0},
        {"rate_per_s": float("inf")},
        {"rate_per_s": float("nan")},
        {"rate_per_s": 2e6},
        {"rate_per_s": "50"},
        {"breaker_open_s": 0},
        {"breaker_open_s": float("inf")},
        {"breaker_open_s": 86_401},
    ],
)
def test_invalid_limits_are_rejected(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TargetLimits(**overrides)


def test_int_rate_and_open_time_are_accepted() -> None:
    assert TargetLimits(rate_per_s=5, breaker_open_s=1).rate_per_s == 5


async def test_invalid_lease_and_retry_are_rejected(redis: Redis, limiter: Limiter) -> None:
    with pytest.raises(ValueError):
        Limiter(redis, KEYS, concurrency_retry_s=0)
    with pytest.raises(ValueError):
        await limiter.acquire("t", TargetLimits.DEFAULT, lease_s=0)
    with pytest.raises(ValueError):
        await limiter.admit("t", TargetLimits.DEFAULT, lease_s=float("nan"))


def test_keys_of_one_target_share_one_hash_tag() -> None:
    def tag(key: str) -> str:
        match = re.search(r"\{([^}]*)\}", key)
        assert match, key
        return match.group(1)

    builders = [KEYS.target_rate, KEYS.target_leases, KEYS.target_breaker, KEYS.target_probe]
    keys = [build("T-42") for build in builders]
    assert {tag(k) for k in keys} == {"tgt:T-42"}
    assert len(set(keys)) == len(keys)
    assert all(k.startswith("hr:{tgt:T-42}:") for k in keys)
    assert {tag(build("T-43")) for build in builders} == {"tgt:T-43"}


# -- rate limit --------------------------------------------------------------------------------


async def test_burst_then_steady_rate(limiter: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(rate_per_s=10, burst=5)
    assert [await limiter.take_rate("t", limits, clock) for _ in range(5)] == [0.0] * 5
    assert await limiter.take_rate("t", limits, clock) == pytest.approx(0.1, abs=1e-6)
    clock.advance(0.04)
    assert await limiter.take_rate("t", limits, clock) == pytest.approx(0.06, abs=1e-6)  # a denial takes nothing
    clock.advance(0.06)
    assert await limiter.take_rate("t", limits, clock) == 0.0
    assert await limiter.take_rate("t", limits, clock) == pytest.approx(0.1, abs=1e-6)
    # Steady state: one every 100 ms, whatever the number of callers.
    admitted = 0
    for _ in range(100):
        clock.advance(0.01)
        admitted += sum([await limiter.take_rate("t", limits, clock) == 0.0 for _ in range(3)])
    assert admitted == 10
    # Idle for long: the bucket refills to the burst, not beyond.
    clock.advance(3600)
    assert sum([await limiter.take_rate("t", limits, clock) == 0.0 for _ in range(20)]) == 5


async def test_rate_is_per_target(limiter: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(rate_per_s=1, burst=1)
    assert await limiter.take_rate("a", limits, clock) == 0.0
    assert await limiter.take_rate("b", limits, clock) == 0.0
    assert await limiter.take_rate("a", limits, clock) > 0


async def test_rate_holds_across_two_clients(limiter: Limiter, other: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(rate_per_s=100, burst=10)
    window_s, step_s = 1.0, 0.005
    admitted = 0
    stop = asyncio.Event()

    async def hammer(lim: Limiter) -> None:
        nonlocal admitted
        while not stop.is_set():
            if await lim.take_rate("t", limits, clock) == 0.0:
                admitted += 1

    async def drive() -> None:
        for _ in range(round(window_s / step_s)):
            await asyncio.sleep(0.002)
            clock.advance(step_s)
        await asyncio.sleep(0.01)
        stop.set()

    await asyncio.gather(drive(), *(hammer(lim) for lim in [limiter, other] * 10))
    bound = limits.rate_per_s * window_s + limits.burst
    assert bound - 3 <= admitted <= bound


async def test_rate_holds_across_two_clients_in_real_time(limiter: Limiter, other: Limiter) -> None:
    limits = TargetLimits(rate_per_s=50, burst=5)
    admitted = 0
    start = time.time()

    async def hammer(lim: Limiter) -> None:
        nonlocal admitted
        while time.time() - start < 0.3:
            if await lim.take_rate("t", limits, time.time) == 0.0:
                admitted += 1

    await asyncio.gather(*(hammer(lim) for lim in [limiter, other] * 8))
    elapsed = time.time() - start
    assert admitted <= limits.rate_per_s * elapsed + limits.burst
    # The burst is always granted; how much of the steady rate a loaded machine manages to take in 0.3 s is not
    # a property of the limiter (the fake-clock tests above pin the rate down exactly).
    assert admitted >= limits.burst


# The arrival time one second after T0, as an integer, with a fraction, and in exponent notation.
@pytest.mark.parametrize("stored", ["1700000001000000", "1700000000999999.5", "1.700000001e+15", "1.700000001e15"])
async def test_rate_reads_any_number_format(redis: Redis, limiter: Limiter, stored: str) -> None:
    await redis.set(KEYS.target_rate("t"), stored)
    limits = TargetLimits(rate_per_s=1, burst=1)
    assert await limiter.take_rate("t", limits, lambda: T0) == pytest.approx(1.0, abs=1e-6)
    assert await limiter.take_rate("t", limits, lambda: T0 + 1) == 0.0
    assert float(await redis.get(KEYS.target_rate("t")) or b"") == pytest.approx(1_700_000_002e6)
    assert 0 < await redis.pttl(KEYS.target_rate("t")) <= 61_000  # gone a minute after the bucket is full again


# -- concurrency -------------------------------------------------------------------------------


async def test_concurrency_never_exceeds_max(redis: Redis, limiter: Limiter, other: Limiter) -> None:
    limits = TargetLimits(max_concurrency=3)
    in_flight = peak = 0

    async def attempt(lim: Limiter) -> None:
        nonlocal in_flight, peak
        while (token := await lim.acquire("t", limits, lease_s=5, now=time.time)) is None:
            await asyncio.sleep(0.001)
        in_flight += 1
        peak = max(peak, in_flight)
        assert await redis.zcard(KEYS.target_leases("t")) <= 3
        await asyncio.sleep(0.002)
        in_flight -= 1
        await lim.release("t", token)

    await asyncio.gather(*(attempt(lim) for lim in [limiter, other] * 25))
    assert peak == 3
    assert await redis.zcard(KEYS.target_leases("t")) == 0


async def test_simultaneous_acquirers_get_exactly_max(limiter: Limiter, other: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(max_concurrency=4)
    tokens = await asyncio.gather(*(lim.acquire("t", limits, 10, clock) for lim in [limiter, other] * 20))
    granted = [t for t in tokens if t is not None]
    assert len(granted) == 4
    assert len(set(granted)) == 4


async def test_expired_lease_is_reclaimed(redis: Redis, limiter: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(max_concurrency=1)
    crashed = await limiter.acquire("t", limits, lease_s=10, now=clock)
    assert crashed is not None  # its worker dies and never releases
    clock.advance(9.999)
    assert await limiter.acquire("t", limits, lease_s=10, now=clock) is None
    clock.advance(0.001)
    token = await limiter.acquire("t", limits, lease_s=10, now=clock)
    assert token is not None
    assert await redis.zrange(KEYS.target_leases("t"), 0, -1) == [token.encode()]
    assert 0 < await redis.pttl(KEYS.target_leases("t")) <= 70_000  # the set goes a minute after its last lease
    await limiter.release("t", crashed)  # a late release of a reclaimed lease is harmless
    assert await limiter.acquire("t", limits, lease_s=10, now=clock) is None
    await limiter.release("t", token)
    assert await limiter.acquire("t", limits, lease_s=10, now=clock) is not None


# -- circuit breaker ---------------------------------------------------------------------------

BREAKER = TargetLimits(breaker_failures=3, breaker_open_s=30)


async def open_breaker(limiter: Limiter, clock: FakeClock, target: str = "t") -> None:
    for _ in range(BREAKER.breaker_failures):
        await limiter.record(target, BREAKER, success=False, now=clock)


async def test_breaker_opens_after_consecutive_failures(limiter: Limiter, clock: FakeClock) -> None:
    assert await limiter.allow("t", BREAKER, clock) == "closed"
    assert await limiter.record("t", BREAKER, success=False, now=clock) == "closed"
    assert await limiter.record("t", BREAKER, success=False, now=clock) == "closed"
    assert await limiter.allow("t", BREAKER, clock) == "closed"
    assert await limiter.record("t", BREAKER, success=False, now=clock) == "open"
    assert await limiter.allow("t", BREAKER, clock) == "open"
    assert await limiter.state("t") == {
        "state": "open",
        "consecutive_failures": 3,
        "opened_at": T0,
        "probe_in_flight": False,
    }
    clock.advance(29.999)
    assert await limiter.allow("t", BREAKER, clock) == "open"
    assert await limiter.allow("u", BREAKER, clock) == "closed"  # other targets are unaffected


async def test_success_resets_the_consecutive_count(limiter: Limiter, clock: FakeClock) -> None:
    for outcome in [False, False, True, False, False]:
        await limiter.record("t", BREAKER, success=outcome, now=clock)
    assert await limiter.allow("t", BREAKER, clock) == "closed"
    assert (await limiter.state("t"))["consecutive_failures"] == 2


async def test_exactly_one_half_open_probe(limiter: Limiter, other: Limiter, clock: FakeClock) -> None:
    await open_breaker(limiter, clock)
    clock.advance(30)
    verdicts = await asyncio.gather(*(lim.allow("t", BREAKER, clock) for lim in [limiter, other] * 25))
    assert verdicts.count("half_open_probe") == 1
    assert verdicts.count("open") == 49
    assert (await limiter.state("t"))["probe_in_flight"]


async def test_successful_probe_closes(limiter: Limiter, clock: FakeClock) -> None:
    await open_breaker(limiter, clock)
    clock.advance(30)
    assert await limiter.allow("t", BREAKER, clock) == "half_open_probe"
    assert await limiter.record("t", BREAKER, success=True, now=clock) == "closed"
    assert await limiter.allow("t", BREAKER, clock) == "closed"
    assert await limiter.state("t") == {
        "state": "closed",
        "consecutive_failures": 0,
        "opened_at": None,
        "probe_in_flight": False,
    }


async def test_failed_probe_reopens(limiter: Limiter, clock: FakeClock) -> None:
    await open_breaker(limiter, clock)
    clock.advance(30)
    assert await limiter.allow("t", BREAKER, clock) == "half_open_probe"
    clock.advance(1)
    assert await limiter.record("t", BREAKER, success=False, now=clock) == "open"
    assert (await limiter.state("t"))["opened_at"] == T0 + 31
    clock.advance(29.9)
    assert await limiter.allow("t", BREAKER, clock) == "open"
    clock.advance(0.1)
    assert await limiter.allow("t", BREAKER, clock) == "half_open_probe"


async def test_failure_of_an_older_attempt_does_not_extend_the_open_time(limiter: Limiter, clock: FakeClock) -> None:
    await open_breaker(limiter, clock)
    clock.advance(10)
    assert await limiter.record("t", BREAKER, success=False, now=clock) == "open"  # admitted before it opened
    clock.advance(20)
    assert await limiter.allow("t", BREAKER, clock) == "half_open_probe"


async def test_a_lost_probe_is_handed_out_again(limiter: Limiter, clock: FakeClock) -> None:
    await open_breaker(limiter, clock)
    clock.advance(30)
    # The probe marker's TTL is a Redis expiry, so it runs on the server's (real) clock.
    assert await limiter.allow("t", BREAKER, clock, probe_ttl_s=0.05) == "half_open_probe"
    assert await limiter.allow("t", BREAKER, clock) == "open"
    await asyncio.sleep(0.06)  # the prober's worker died
    assert await limiter.allow("t", BREAKER, clock) == "half_open_probe"


async def test_breaker_hash_expires_when_idle(redis: Redis, limiter: Limiter, clock: FakeClock) -> None:
    await limiter.record("t", BREAKER, success=False, now=clock)
    assert 6 * 24 * 3600 * 1000 < await redis.pttl(KEYS.target_breaker("t")) <= 7 * 24 * 3600 * 1000


# -- admit / done ------------------------------------------------------------------------------


async def test_admit_leases_and_done_releases(redis: Redis, limiter: Limiter, clock: FakeClock) -> None:
    admission = await limiter.admit("t", TargetLimits.DEFAULT, lease_s=15, now=clock)
    assert admission.admitted and admission.token and not admission.probe
    assert admission.reason is None and admission.wait_s == 0.0
    assert await redis.zscore(KEYS.target_leases("t"), admission.token) == (T0 + 15) * 1e6
    assert await limiter.done("t", admission, success=True, now=clock) == "closed"
    assert await redis.zcard(KEYS.target_leases("t")) == 0


async def test_admit_reports_rate(limiter: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(rate_per_s=2, burst=1)
    assert (await limiter.admit("t", limits, 10, clock)).admitted
    denied = await limiter.admit("t", limits, 10, clock)
    assert denied == Admission(False, wait_s=0.5, reason="rate", limits=limits)


async def test_denied_admission_takes_neither_rate_nor_lease(redis: Redis, limiter: Limiter, clock: FakeClock) -> None:
    limits = TargetLimits(max_concurrency=1, rate_per_s=1, burst=2)
    first = await limiter.admit("t", limits, 10, clock)
    for _ in range(5):  # full: these must not spend the second burst token
        busy = await limiter.admit("t", limits, 10, clock)
        assert (busy.admitted, busy.reason, busy.wait_s) == (False, "concurrency", 1.0)  # capped by the retry
    await limiter.done("t", first, success=True, now=clock)
    second = await limiter.admit("t", limits, 10, clock)
    assert second.admitted
    await limiter.done("t", second, success=True, now=clock)
    third = await limiter.admit("t", limits, 10, clock)
    assert third.reason == "rate"
    assert third.wait_s == pytest.approx(1.0)
    assert await redis.zcard(KEYS.target_leases("t")) == 0


async def test_concurrency_wait_is_the_oldest_lease_when_sooner(redis: Redis, clock: FakeClock) -> None:
    limiter = Limiter(redis, KEYS, concurrency_retry_s=60)
    limits = TargetLimits(max_concurrency=1)
    await limiter.admit("t", limits, 10, clock)
    clock.advance(4)
    assert (await limiter.admit("t", limits, 10, clock)).wait_s == pytest.approx(6)


async def test_admit_through_breaker_cycle(limiter: Limiter, other: Limiter, clock: FakeClock) -> None:
    for _ in range(BREAKER.breaker_failures):
        admission = await limiter.admit("t", BREAKER, 10, clock)
        await limiter.done("t", admission, success=False, now=clock)
    denied = await limiter.admit("t", BREAKER, 10, clock)
    assert (denied.admitted, denied.reason, denied.wait_s) == (False, "breaker_open", 30.0)
    clock.advance(30)
    admissions = await asyncio.gather(*(lim.admit("t", BREAKER, 10, clock) for lim in [limiter, other] * 10))
    [probe] = [a for a in admissions if a.admitted]
    assert probe.probe
    others = [a for a in admissions if not a.admitted]
    assert {a.reason for a in others} == {"breaker_open"}
    assert all(0 < a.wait_s <= 10 for a in others)  # until the probe's marker would expire
    assert await other.done("t", probe, success=True, now=clock) == "closed"
    after = await limiter.admit("t", BREAKER, 10, clock)
    assert after.admitted and not after.probe


async def test_concurrent_calls_share_one_round_trip_and_keep_their_own_replies(
    redis: Redis, limiter: Limiter, clock: FakeClock
) -> None:
    # Twelve attempts of one batch ask at once for a target with ten slots: one pipeline, run in call order.
    limits = TargetLimits(max_concurrency=10, rate_per_s=1000, burst=1000)
    admissions = await asyncio.gather(*(limiter.admit("t", limits, 15, clock) for _ in range(12)))
    assert [a.admitted for a in admissions] == [True] * 10 + [False] * 2
    assert {a.reason for a in admissions[10:]} == {"concurrency"} and limiter.round_trips == 1
    admitted = [a for a in admissions if a.admitted]
    assert len({a.token for a in admitted}) == 10
    assert await redis.zcard(KEYS.target_leases("t")) == 10
    states = await asyncio.gather(*(limiter.done("t", a, success=True, now=clock) for a in admitted))
    assert states == ["closed"] * 10 and limiter.round_trips == 2
    assert await redis.zcard(KEYS.target_leases("t")) == 0


async def test_a_caller_that_gave_up_leaves_the_others_their_replies(limiter: Limiter, clock: FakeClock) -> None:
    gone = asyncio.ensure_future(limiter.admit("t", TargetLimits.DEFAULT, 15, clock))
    kept = asyncio.ensure_future(limiter.admit("t", TargetLimits.DEFAULT, 15, clock))
    await asyncio.sleep(0)
    gone.cancel()
    assert (await kept).admitted
    with pytest.raises(asyncio.CancelledError):
        await gone


async def test_done_needs_an_admission(limiter: Limiter) -> None:
    with pytest.raises(ValueError):
        await limiter.done("t", Admission(False, wait_s=1, reason="rate"), success=True)


async def test_redis_errors_become_store_unavailable(tmp_path: Any) -> None:
    client = Redis(unix_socket_path=str(tmp_path / "absent.sock"), retry=Retry(NoBackoff(), 0))
    limiter = Limiter(client, KEYS)
    try:
        with pytest.raises(StoreUnavailable):
            await limiter.admit("t", TargetLimits.DEFAULT, 10)
        with pytest.raises(StoreUnavailable):
            await limiter.release("t", "token")
        with pytest.raises(StoreUnavailable):
            await limiter.state("t")
    finally:
        await client.aclose()
