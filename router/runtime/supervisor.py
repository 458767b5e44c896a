"""The one supervised loop every background task of a process runs under.

A background task is a ``run_once()`` coroutine doing one pass (one batch of a stream, one registry refresh,
one reconcile). The supervisor calls it again and again until stopped:

- an exception ends the pass, never the loop: it is logged (with its traceback, except for the expected
  "Redis is away" errors, logged as one line per pass), the task's ``reset()`` forgets whatever it cached
  about Redis (a consumer group that a restarted, emptied Redis no longer has is recreated on the next pass),
  and the pass is retried after a capped exponential backoff;
- every pass that returns (and every ``beat()`` a long pass makes) is a heartbeat; ``health()`` reports a
  task as failing while its last pass raised, and as stalled when its heartbeat is older than its budget.
  ``/readyz`` reads it.
- ``stop()`` lets every pass in hand finish for up to a grace period, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from router import metrics
from router.errors import StoreUnavailable
from router.storage import timing
from router.tasks import cancel

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
BACKOFF_BASE_S = 0.1
BACKOFF_CAP_S = 5.0
SHUTDOWN_GRACE_S = 10.0
# Errors that mean "Redis is away or refusing": expected during an outage, so one line each, not a traceback.
_OUTAGE = (RedisError, OSError, StoreUnavailable, TimeoutError)


@dataclass
class Task:
    """One background task.

    Args:
        name: short, stable; used in logs and in ``/readyz``.
        run_once: one pass.
        pause_s: wait after a pass that returned (polling tasks); 0 for tasks that block inside Redis.
        budget_s: longest a pass may go without a heartbeat before the task counts as stalled.
        reset: called after a failed pass, before the retry.
        stop: called when stopping, for tasks whose pass can end early on request.
        interruptible: a pass that holds nothing worth finishing (a listener waiting for a message): cancelled
            at once when stopping instead of awaited.
    """

    name: str
    run_once: Callable[[], Awaitable[object]]
    pause_s: float = 0.0
    budget_s: float = 30.0
    reset: Callable[[], None] | None = None
    stop: Callable[[], None] | None = None
    interruptible: bool = False


@dataclass
class TaskHealth:
    name: str
    ok: bool
    state: str  # running | failing | stalled | stopped
    last_beat_s: float  # seconds since the last heartbeat
    failures: int  # consecutive failed passes
    restarts: int  # failed passes since start
    last_error: str = ""


@dataclass
class _Slot:
    task: Task
    beat_at: float
    failures: int = 0
    restarts: int = 0
    last_error: str = ""
    runner: asyncio.Task[None] | None = field(default=None, repr=False)


class Heartbeat:
    """Handed to a long pass (a replay, a slow batch) so it can say it is still making progress."""

    def __init__(self, slot: _Slot, clock: Clock) -> None:
        self._slot = slot
        self._clock = clock

    def __call__(self) -> None:
        self._slot.beat_at = self._clock()
        _beat(self._slot.task.name)


class Supervisor:
    def __init__(
        self,
        *,
        clock: Clock = time.monotonic,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_cap_s: float = BACKOFF_CAP_S,
    ) -> None:
        self._clock = clock
        self._backoff_base_s = backoff_base_s
        self._backoff_cap_s = backoff_cap_s
        self._slots: dict[str, _Slot] = {}
        self._stopping = asyncio.Event()
        self._started = False

    def add(self, task: Task) -> Heartbeat:
        """Register a task (before or after start()); returns its heartbeat."""
        if task.name in self._slots:
            raise ValueError(f"a task named {task.name!r} is already supervised")
        slot = _Slot(task, beat_at=self._clock())
        self._slots[task.name] = slot
        if self._started:
            slot.runner = asyncio.create_task(self._supervise(slot), name=f"supervised:{task.name}")
        return Heartbeat(slot, self._clock)

    def start(self) -> None:
        self._started = True
        for slot in self._slots.values():
            if slot.runner is None:
                slot.beat_at = self._clock()
                slot.runner = asyncio.create_task(self._supervise(slot), name=f"supervised:{slot.task.name}")

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def stop(self, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        """Let every pass in hand finish, up to ``grace_s``; then cancel what is left."""
        self._stopping.set()
        for slot in self._slots.values():
            if slot.task.stop is not None:
                slot.task.stop()
            if slot.task.interruptible and slot.runner is not None:
                await cancel(slot.runner)
        runners = [s.runner for s in self._slots.values() if s.runner is not None]
        if runners:
            await asyncio.wait(runners, timeout=grace_s)
        for runner in runners:
            await cancel(runner)

    def health(self) -> list[TaskHealth]:
        now = self._clock()
        report = []
        for name, slot in self._slots.items():
            age = now - slot.beat_at
            if slot.runner is None or slot.runner.done():
                state = "stopped"
            elif slot.failures:
                state = "failing"
            elif age > slot.task.pause_s + slot.task.budget_s:
                state = "stalled"
            else:
                state = "running"
            report.append(
                TaskHealth(
                    name, state == "running", state, round(age, 3), slot.failures, slot.restarts, slot.last_error
                )
            )
        return report

    async def _supervise(self, slot: _Slot) -> None:
        task = slot.task
        timing.set_operation(operation_of(task.name))  # this runner's own context: every pass, and what it starts
        while not self._stopping.is_set():
            try:
                await task.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the loop outlives any one pass: that is the point of supervising it
                slot.failures += 1
                slot.restarts += 1
                slot.last_error = type(exc).__name__
                metrics.LOOP_RESTARTS.labels(task.name).inc()
                self._log_failure(task.name, exc, slot.failures)
                if task.reset is not None:
                    task.reset()
                await self._sleep(min(self._backoff_base_s * 2**slot.failures, self._backoff_cap_s))
                continue
            if slot.failures:
                logger.info("%s resumed", task.name, extra={"task": task.name, "after_failures": slot.failures})
            slot.failures = 0
            slot.beat_at = self._clock()
            _beat(task.name)
            if task.pause_s > 0:
                await self._sleep(task.pause_s)
            else:
                await asyncio.sleep(0)  # a pass that never had to wait must still let the rest of the process run

    @staticmethod
    def _log_failure(name: str, exc: Exception, failures: int) -> None:
        extra = {"task": name, "error": type(exc).__name__, "failures": failures}
        if isinstance(exc, _OUTAGE):
            # The first failure of a streak with its traceback, the rest as one line: an outage is expected noise.
            logger.warning("%s paused: event store unavailable", name, extra=extra, exc_info=failures == 1)
        else:
            logger.error("%s pass crashed; restarting", name, extra=extra, exc_info=exc)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


# What a loop's Redis round trips count as (``hookrouter_redis_command_duration_seconds{operation}``), by task name
# less a shard's suffix ("routing-3"); a task not named here counts as "other".
_OPERATIONS = {
    "routing": "route",
    "delivery": "deliver",
    "destination-fanout": "notify",
    "executions-bridge": "notify",
    "credential-watch": "notify",
    "replay": "replay",
    "polling": "poll",
    "scheduler": "schedule",
    "registry-refresh": "registry",
    "lifecycle": "lifecycle",
    "retention": "trim",
    "acked-trim": "trim",
}


def operation_of(task: str) -> str:
    base, _, suffix = task.rpartition("-")
    return _OPERATIONS.get(task) or (_OPERATIONS.get(base, "other") if suffix.isdigit() else "other")


def _beat(task: str) -> None:
    # Wall-clock time, for Prometheus (``time() - hookrouter_loop_last_beat_timestamp_seconds``); the supervisor's
    # own clock is monotonic.
    metrics.LOOP_LAST_BEAT.labels(task).set(time.time())
