"""The product's performance figures P1-P7, each measured next to its baseline in the same run.

Every figure is a function returning ``Row``s; the measuring is done by the bench scripts beside this module
(``ingest``, ``fanout``, ``latency``, ``replay``, ``jwt_once``), called as functions, so a figure printed here
and the same script run on its own measure the same thing. ``Sizes`` scales them (``--quick``: a short run).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from bench import fanout, ingest, jwt_once, latency, replay

Op = Literal[">=", "<="]


@dataclass(frozen=True, slots=True)
class Row:
    """One measured figure. Its target applies to its ``ratio`` to the baseline (``on="ratio"``) or to the
    ``value`` itself; a row without a goal is shown for context only."""

    figure: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    goal: float | None = None
    op: Op = ">="
    on: Literal["ratio", "value"] = "ratio"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.value / self.baseline if self.baseline else None

    @property
    def measured(self) -> float | None:
        return self.ratio if self.on == "ratio" else self.value

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        m = self.measured
        if m is None or math.isnan(m):
            return False
        return m >= self.goal if self.op == ">=" else m <= self.goal

    @property
    def target(self) -> str:
        if self.goal is None:
            return ""
        what = "x baseline" if self.on == "ratio" else self.unit
        return f"{self.op} {self.goal:g} {what}"

    @property
    def share(self) -> float | None:
        """The measured figure as a share of its target, 1.0 and above when met (for the chart)."""
        m = self.measured
        if self.goal is None or m is None or m <= 0 or math.isnan(m):
            return None
        return m / self.goal if self.op == ">=" else self.goal / m


@dataclass(frozen=True, slots=True)
class Sizes:
    ingest_s: int = 10
    routing_events: int = 20_000
    latency_s: float = 5.0
    deliveries: int = 6_000
    replay_preload: int = 200_000
    replay_events: int = 100_000
    jwt_s: float = 0.5

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            ingest_s=3,
            routing_events=3_000,
            latency_s=2.0,
            deliveries=1_500,
            replay_preload=20_000,
            replay_events=10_000,
            jwt_s=0.1,
        )


def p1_p2(sizes: Sizes) -> list[Row]:
    args = ingest.parse_args(["--duration", str(sizes.ingest_s), "--connections", "32", "--separate-workers"])
    bare, hook, handwritten = ingest.measure_both(args)
    errors = sum(hook.wrk.errors.values())
    note = f"{errors} wrk errors" if errors else ""
    rows = [
        Row("P1", "ingest throughput", hook.wrk.rps, "req/s", bare.wrk.rps, "bare Starlette endpoint", 0.85, note=note),
        Row(
            "P2",
            "ingest p99 latency, 32 connections",
            hook.wrk.p99_us / 1000,
            "ms",
            bare.wrk.p99_us / 1000,
            "bare endpoint p99",
            1.5,
            "<=",
        ),
    ]
    hook_cpu, bare_cpu = hook.cpu_us_per_request("server"), bare.cpu_us_per_request("server")
    if hook_cpu is not None and bare_cpu is not None:
        rows.insert(1, Row("P1", "ingest server CPU per request", hook_cpu, "us", bare_cpu, "bare endpoint", 1.5, "<="))
    if handwritten is not None:  # context: the floor of Python ingest here, and the product against it
        floor = handwritten.wrk.rps
        hand = "hand-written verify + XADD endpoint"
        rows.insert(2, Row("P1", hand, floor, "req/s", bare.wrk.rps, "bare Starlette endpoint"))
        rows.insert(3, Row("P1", "ingest vs the hand-written endpoint", hook.wrk.rps, "req/s", floor, hand))
        hand_p99 = handwritten.wrk.p99_us / 1000
        rows.append(Row("P2", f"{hand} p99", hand_p99, "ms", bare.wrk.p99_us / 1000, "bare endpoint p99"))
    return rows


def p3(sizes: Sizes) -> list[Row]:
    phases = fanout.measure(fanout.parse_args(["--only", "routing", "--events", str(sizes.routing_events)]))
    routing, xadd = phases["routing"], phases["xadd"]
    note = f"{routing.cpu_us:,.0f} us CPU/event"
    return [
        Row("P3", "routing rate, 1 worker", routing.rate, "events/s", goal=30_000, on="value", note=note),
        Row("P3", "routing vs pipelined XADD", routing.rate, "events/s", xadd.rate, "XADD pipelines of 100", 0.8),
    ]


def p4(sizes: Sizes) -> list[Row]:
    routed, bare = latency.measure(5000, sizes.latency_s)
    note = f"p50 {routed.p50_ms:.0f} ms, max {routed.max_ms:.0f} ms"
    return [
        Row(
            "P4",
            "ingest -> trigger p99 at 5k events/s",
            routed.p99_ms,
            "ms",
            bare.p99_ms,
            "bare forwarder p99",
            5.0,
            "<=",
            "value",
            note,
        )
    ]


def p5(sizes: Sizes) -> list[Row]:
    phases = fanout.measure(fanout.parse_args(["--only", "delivery", "--deliveries", str(sizes.deliveries)]))
    delivery, fastest, httpx_loop = phases["delivery"], phases["aiohttp"], phases["bare"]
    note = (
        f"{delivery.cpu_us:,.0f} us CPU/delivery vs {fastest.cpu_us:,.0f} bare aiohttp; "
        f"bare httpx {httpx_loop.rate:,.0f}/s"
    )
    return [
        Row("P5", "HTTP delivery rate, 1 worker", delivery.rate, "deliveries/s", goal=5000, on="value", note=note),
        Row(
            "P5", "HTTP delivery vs bare client", delivery.rate, "deliveries/s", fastest.rate, "bare aiohttp loop", 0.8
        ),
    ]


def p6(sizes: Sizes) -> list[Row]:
    replayed, xadd = asyncio.run(replay.measure_replay(sizes.replay_preload, sizes.replay_events))
    return [
        Row("P6", "replay (reroute) rate", replayed, "events/s", goal=50_000, on="value"),
        Row("P6", "replay vs pipelined XADD", replayed, "events/s", xadd, "XADD pipelines of 500", 0.8),
    ]


def p7(sizes: Sizes) -> list[Row]:
    paths = jwt_once.measure(sizes.jwt_s)
    rows = [
        Row(
            "P7",
            f"JWT decodes per request: {p.name}",
            p.decodes,
            "decodes",
            1,
            "one jwt.decode",
            1.0,
            "<=",
            "value",
        )
        for p in paths
    ]
    rows += [
        Row("P7", f"JWT verify cost: {p.name}", p.cost_us, "us", p.baseline_us, "one jwt.decode")  # context
        for p in paths
    ]
    return rows


FIGURES: dict[str, Callable[[Sizes], list[Row]]] = {
    "P1": p1_p2,  # one wrk run each against the bare endpoint and hookrouter gives P1 and P2
    "P3": p3,
    "P4": p4,
    "P5": p5,
    "P6": p6,
    "P7": p7,
}
ALIASES = {"P2": "P1"}
