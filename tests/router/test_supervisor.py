"""The one supervised loop: restarts with backoff, resets, heartbeats, stops with a grace period."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from router.runtime.supervisor import Supervisor, Task

pytestmark = pytest.mark.anyio


async def until(condition: object, timeout_s: float = 3.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_a_pass_that_raises_is_logged_with_its_traceback_reset_and_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls, resets = 0, 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls <= 3:
            raise RuntimeError("bug in a pass")

    def reset() -> None:
        nonlocal resets
        resets += 1

    supervisor = Supervisor(backoff_base_s=0.001, backoff_cap_s=0.01)
    supervisor.add(Task("flaky", flaky, reset=reset))
    with caplog.at_level(logging.ERROR, logger="router.runtime.supervisor"):
        supervisor.start()
        await until(lambda: calls >= 5)
        await supervisor.stop()
    crashed = [r for r in caplog.records if "crashed" in r.getMessage()]
    assert len(crashed) == 3 and all(r.exc_info is not None for r in crashed)
    assert resets == 3
    [health] = supervisor.health()
    assert (health.restarts, health.failures, health.last_error) == (3, 0, "RuntimeError")


async def test_a_failing_task_is_reported_until_a_pass_succeeds() -> None:
    failing = True

    async def once() -> None:
        if failing:
            raise RuntimeError("not yet")

    supervisor = Supervisor(backoff_base_s=0.001, backoff_cap_s=0.005)
    supervisor.add(Task("t", once))
    supervisor.start()
    await until(lambda: supervisor.health()[0].failures >= 2)
    health = supervisor.health()[0]
    assert (health.ok, health.state) == (False, "failing")
    failing = False
    await until(lambda: supervisor.health()[0].ok)
    assert supervisor.health()[0].state == "running"
    await supervisor.stop()
    assert supervisor.health()[0].state == "stopped"


async def test_backoff_grows_and_is_capped() -> None:
    times: list[float] = []
    loop = asyncio.get_running_loop()

    async def down() -> None:
        times.append(loop.time())
        raise RedisConnectionError("Redis is away")

    supervisor = Supervisor(backoff_base_s=0.01, backoff_cap_s=0.04)
    supervisor.add(Task("t", down))
    supervisor.start()
    await until(lambda: len(times) >= 6)
    await supervisor.stop()
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps[0] >= 0.019  # 0.01 * 2**1
    assert all(gap < 0.2 for gap in gaps)  # capped at 0.04 (plus scheduling)
    assert gaps[-1] >= 0.039


async def test_an_outage_logs_one_traceback_then_single_lines(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise RedisConnectionError("Redis is away")

    supervisor = Supervisor(backoff_base_s=0.001, backoff_cap_s=0.002)
    supervisor.add(Task("routing", down))
    with caplog.at_level(logging.WARNING, logger="router.runtime.supervisor"):
        supervisor.start()
        await until(lambda: calls >= 4)
        await supervisor.stop()
    paused = [r for r in caplog.records if "paused" in r.getMessage()]
    assert len(paused) >= 4 and paused[0].exc_info is not None
    assert not any(r.exc_info for r in paused[1:])


async def test_a_pass_without_heartbeat_past_its_budget_is_stalled_and_beats_revive_it() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def long_pass() -> None:
        entered.set()
        await release.wait()

    supervisor = Supervisor()
    beat = supervisor.add(Task("long", long_pass, budget_s=0.05))
    supervisor.start()
    await entered.wait()
    await asyncio.sleep(0.1)
    assert supervisor.health()[0].state == "stalled"
    beat()
    assert supervisor.health()[0].state == "running"
    release.set()
    await supervisor.stop()


async def test_pause_between_passes() -> None:
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1

    supervisor = Supervisor()
    supervisor.add(Task("poll", once, pause_s=0.05))
    supervisor.start()
    await asyncio.sleep(0.12)
    await supervisor.stop()
    assert 2 <= calls <= 4  # not a busy loop


async def test_stop_lets_the_pass_in_hand_finish_within_the_grace_period() -> None:
    finished = False
    entered = asyncio.Event()

    async def slow() -> None:
        nonlocal finished
        entered.set()
        await asyncio.sleep(0.05)
        finished = True

    supervisor = Supervisor()
    supervisor.add(Task("slow", slow))
    supervisor.start()
    await entered.wait()
    await supervisor.stop(grace_s=1)
    assert finished


async def test_stop_cancels_a_pass_that_outlives_the_grace_period_and_calls_stop_hooks() -> None:
    stopped = False
    entered = asyncio.Event()

    async def stuck() -> None:
        entered.set()
        await asyncio.sleep(3600)

    def on_stop() -> None:
        nonlocal stopped
        stopped = True

    supervisor = Supervisor()
    supervisor.add(Task("stuck", stuck, stop=on_stop))
    supervisor.start()
    await entered.wait()
    await asyncio.wait_for(supervisor.stop(grace_s=0.05), 2)
    assert stopped and supervisor.health()[0].state == "stopped"


def test_names_are_unique() -> None:
    async def once() -> None:
        return None

    supervisor = Supervisor()
    supervisor.add(Task("a", once))
    with pytest.raises(ValueError, match="already supervised"):
        supervisor.add(Task("a", once))


async def test_an_interruptible_task_is_cancelled_at_once_when_stopping() -> None:
    entered = asyncio.Event()

    async def listen() -> None:
        entered.set()
        await asyncio.sleep(3600)  # waiting for a message that may never come

    supervisor = Supervisor()
    supervisor.add(Task("listener", listen, interruptible=True))
    supervisor.start()
    await entered.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await supervisor.stop(grace_s=5)
    assert loop.time() - started < 1 and supervisor.health()[0].state == "stopped"
