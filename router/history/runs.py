"""What a workflow runner reports of an execution beyond success or failure: when it ended, how many tasks it
ran, and its step executions (the platform's §3.6 shapes), so Task History can show them.

One key per execution (``keys.run_report``), a JSON document written once per report with a TTL of the
retention period: the history of an execution lives as long as its event. Bounded per execution: at most
``MAX_STEPS`` steps, and a step's input or output larger than ``INLINE_BYTES`` as JSON is not kept, only its
size and the platform's ``isLargeInput`` / ``isLargeOutput`` flag. A document this version cannot read (written
by another, or damaged) reads as no report, logged: an execution is still shown, without what it reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from redis.asyncio import Redis

from router.storage.keys import Keys
from router.storage.store import EventStore

logger = logging.getLogger(__name__)

MAX_STEPS = 500
INLINE_BYTES = 16 * 1024
# What an ISO 8601 answer can show: years 1 to 9999, UTC. A zone offset can carry a reported 0001-01-01 or
# 9999-12-31 past either end; such a report is refused, and one stored before reads as unreadable.
EARLIEST_MS = -62_135_596_800_000
LATEST_MS = 253_402_300_799_999


def _size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


@dataclass(frozen=True, slots=True)
class StepExecution:
    """One step's run. ``input``/``output`` are None when ``large_input``/``large_output`` (too large to keep)."""

    id: str
    step_id: str
    status: str
    type: str
    start_ms: int | None
    end_ms: int | None
    next: tuple[str, ...]
    prev: str | None
    input: Any
    output: Any
    input_size: int
    output_size: int
    large_input: bool
    large_output: bool

    @classmethod
    def of(
        cls,
        *,
        id: str,
        step_id: str,
        status: str,
        type: str,
        start_ms: int | None = None,
        end_ms: int | None = None,
        next: Sequence[str] = (),
        prev: str | None = None,
        input: Any = None,
        output: Any = None,
    ) -> StepExecution:
        """A step with its sizes measured and its input or output dropped when too large to keep."""
        in_size, out_size = _size(input), _size(output)
        large_in, large_out = in_size > INLINE_BYTES, out_size > INLINE_BYTES
        return cls(
            id=id,
            step_id=step_id,
            status=status,
            type=type,
            start_ms=start_ms,
            end_ms=end_ms,
            next=tuple(next),
            prev=prev,
            input=None if large_in else input,
            output=None if large_out else output,
            input_size=in_size,
            output_size=out_size,
            large_input=large_in,
            large_output=large_out,
        )


@dataclass(frozen=True, slots=True)
class RunReport:
    """An execution as its runner reported it: ``ended_ms`` (unix ms), ``task_count``, ``steps`` in run order."""

    ended_ms: int | None = None
    task_count: int | None = None
    steps: tuple[StepExecution, ...] = ()

    def __post_init__(self) -> None:
        if len(self.steps) > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS} step executions per execution")
        if len({s.id for s in self.steps}) != len(self.steps):
            raise ValueError("step execution ids must be unique within an execution")
        moments = [self.ended_ms, *(m for s in self.steps for m in (s.start_ms, s.end_ms))]
        if any(m is not None and not EARLIEST_MS <= m <= LATEST_MS for m in moments):
            raise ValueError("a moment outside the years 1 to 9999 (UTC)")

    def step(self, step_execution_id: str) -> StepExecution | None:
        return next((s for s in self.steps if s.id == step_execution_id), None)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: bytes | str) -> RunReport:
        """The report; ValueError (or KeyError, TypeError) when the document is not one."""
        data = json.loads(raw)
        steps = tuple(StepExecution(**{**s, "next": tuple(s["next"])}) for s in data["steps"])
        return cls(ended_ms=data["ended_ms"], task_count=data["task_count"], steps=steps)


class RunReports:
    """The owner of ``keys.run_report``: writes a runner's report and reads it back for the history."""

    @classmethod
    def of(cls, store: EventStore, keys: Keys) -> RunReports:
        return cls(store.redis, keys)

    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def put(self, execution_id: str, report: RunReport, *, ttl_s: int) -> None:
        """Keep ``report`` for ``ttl_s`` (the retention period); a later report of the execution replaces it."""
        await self._redis.set(self._keys.run_report(execution_id), report.to_json(), ex=max(1, ttl_s))

    async def get_many(self, execution_ids: Sequence[str]) -> list[RunReport | None]:
        """Each execution's report, in order (None: none reported, expired, or unreadable); one round trip."""
        if not execution_ids:
            return []
        # GETs in a pipeline, not MGET: each execution's key has its own hash tag (a cluster splits the pipeline).
        async with self._redis.pipeline(transaction=False) as pipe:
            for execution_id in execution_ids:
                pipe.get(self._keys.run_report(execution_id))
            raws = await pipe.execute()
        out: list[RunReport | None] = []
        for execution_id, raw in zip(execution_ids, raws, strict=True):
            try:
                out.append(None if raw is None else RunReport.from_json(raw))
            except (ValueError, KeyError, TypeError):
                logger.error("unreadable run report ignored", extra={"execution": execution_id})
                out.append(None)
        return out
