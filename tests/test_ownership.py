"""One owner per Redis key family: only storage/ and a family's owner touch its keys, and nothing else reaches
the raw client behind an EventStore. docs/architecture.md ("Key families and their owners") is the same map."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from router.storage.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
ROUTER = ROOT / "router"

# Key builder → the modules (under router/) that may name it. Families storage/ owns outright (the streams,
# the stream registry, the dedup markers and their repeat counts) are named by their callers and are not here.
FAMILY_OWNERS = {
    "outcomes": {"routing/outcomes.py"},
    "disabled_targets": {"delivery/disabled.py"},
    "delivery_history": {"delivery/outcomes.py"},
    "delivery_scheduled": {"delivery/outcomes.py", "delivery/worker.py"},
    "delivery_job": {"delivery/outcomes.py", "delivery/worker.py"},
    "delivery_order": {"delivery/worker.py"},
    "target_rate": {"delivery/limits.py"},
    "target_leases": {"delivery/limits.py"},
    "target_breaker": {"delivery/limits.py"},
    "target_probe": {"delivery/limits.py"},
    "disabled_destinations": {"notifications/delivery.py"},
    "destination_failures": {"notifications/delivery.py"},
    "verification_burst": {"notifications/producers.py"},
    "credential_states": {"notifications/producers.py"},
    "verification_failures": {"ingress/diagnostics.py"},
    "handshake_captures": {"ingress/diagnostics.py"},
    "handshake_capture_counts": {"ingress/diagnostics.py"},
    "response": {"ingress/sdk/responses.py"},
    "responses_channel": {"ingress/sdk/responses.py"},
    "replay_job": {"history/replay_jobs.py", "history/replay.py"},
    "replay_pending": {"history/replay_jobs.py"},
    "replay_claim": {"history/replay_jobs.py"},
    "event_index": {"history/indexes.py"},
    "job_index": {"history/indexes.py"},
    "event_jobs": {"history/indexes.py"},
    "index_registry": {"history/indexes.py"},
    "readiness_probe": {"runtime/process.py"},
    "api_window": {"platform_api/rate_limit.py"},
    "poll_due": {"polling/state.py"},
    "poll_state": {"polling/state.py"},
    "poll_lease": {"polling/state.py"},
    "poll_seen": {"polling/state.py"},
    "schedule_due": {"polling/schedules.py"},
    "run_report": {"history/runs.py"},
    "stats": {"history/stats.py"},
}

# Modules that may reach the raw client through an EventStore (``store.redis``): the owners of the families
# above, for their own keys. Everything else calls the store's methods or an owner's.
RAW_CLIENT_OWNERS = {
    "routing/outcomes.py",
    "delivery/disabled.py",
    "delivery/outcomes.py",
    "delivery/limits.py",
    "delivery/worker.py",  # the ordered pairs (delivery_order)
    "notifications/delivery.py",
    "notifications/producers.py",  # credential transitions
    "delivery/runner.py",  # the runner's client over its trigger stream and responses
    "history/indexes.py",
    "history/replay_jobs.py",
    "platform_api/rate_limit.py",
    "history/runs.py",
    "history/stats.py",
}


def _modules() -> list[tuple[str, ast.AST]]:
    return [
        (str(path.relative_to(ROUTER)), ast.parse(path.read_text(), str(path)))
        for path in sorted(ROUTER.rglob("*.py"))
        if "storage" not in path.relative_to(ROUTER).parts
    ]


def _on_keys(node: ast.Attribute) -> bool:
    # keys.x, self._keys.x, ctx.keys.x, state["keys"].x
    return ast.unparse(node.value).rstrip("]'\"").endswith("keys")


def _on_store(node: ast.Attribute) -> bool:
    # store.redis, self._store.redis, ctx.store.redis, state["store"].redis
    return "store" in ast.unparse(node.value).rstrip("]'\"").rsplit(".", 1)[-1].lower()


def key_family_uses(tree: ast.AST) -> set[str]:
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in FAMILY_OWNERS and _on_keys(node)
    }


def raw_client_uses(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr == "redis" and _on_store(node)
    ]


def test_every_family_is_a_key_builder() -> None:
    # A renamed builder would otherwise leave its family unchecked.
    assert not {name for name in FAMILY_OWNERS if not hasattr(Keys, name)}


def test_key_families_are_named_only_by_their_owners() -> None:
    strays = []
    used_by: dict[str, set[str]] = {name: set() for name in FAMILY_OWNERS}
    for module, tree in _modules():
        for family in key_family_uses(tree):
            used_by[family].add(module)
            if module not in FAMILY_OWNERS[family]:
                strays.append(f"{module} names {family} (owner: {sorted(FAMILY_OWNERS[family])})")
    assert not strays, "\n".join(strays)
    # And the map stays true the other way: an owner that no longer names its family is out of date.
    stale = {name: sorted(owners - used_by[name]) for name, owners in FAMILY_OWNERS.items() if owners - used_by[name]}
    assert not stale, stale


def test_only_owners_reach_the_raw_client_behind_a_store() -> None:
    strays = [
        f"router/{module}:{line} reaches the raw client through a store"
        for module, tree in _modules()
        if module not in RAW_CLIENT_OWNERS
        for line in raw_client_uses(tree)
    ]
    assert not strays, "\n".join(strays)


@pytest.mark.parametrize(
    ("source", "family", "raw"),
    [
        ('async def f(state): return await state["store"].redis.hget(state["keys"].outcomes, "1-0")', "outcomes", 1),
        ("async def f(self): await self._store.redis.hdel(self._keys.disabled_targets, 'wf')", "disabled_targets", 1),
        ("async def f(ctx): return await ctx.redis.hget(ctx.keys.delivery_history('j'), 'x')", "delivery_history", 0),
    ],
)
def test_the_checks_see_the_usual_spellings(source: str, family: str, raw: int) -> None:
    tree = ast.parse(source)
    assert key_family_uses(tree) == {family}
    assert len(raw_client_uses(tree)) == raw


# What a process builds once (router/runtime/process.py), and the few other places allowed to build one.
BUILT_ONCE = {
    # the CLI's one-shot commands, `forward` and `send`
    "connect": {"runtime/process.py", "cli/main.py", "cli/events.py", "cli/keys.py", "cli/forward.py", "cli/send.py"},
    "guarded_client": {"runtime/process.py"},
    "Limiter": {"runtime/process.py"},
    "DestinationSender": {"runtime/process.py"},
    "EventStore": {
        "runtime/process.py",
        "runtime/workers.py",  # one per consumer group the workers read as
        "cli/events.py",  # one-shot commands
        "cli/send.py",
        "delivery/runner.py",  # the workflow runners' client, on their own Redis
        "history/indexes.py",  # an EventIndex built on a bare client (tests, the CLI)
    },
}


def constructor_calls(tree: ast.AST) -> set[str]:
    # By name as called: a socket's ``conn.connect`` is not Redis's ``connect``.
    called = {
        ast.unparse(node.func).removeprefix("redis_client.") for node in ast.walk(tree) if isinstance(node, ast.Call)
    }
    return called & BUILT_ONCE.keys()


def test_process_wiring_is_built_in_one_place() -> None:
    strays = [
        f"router/{module} builds {name} (allowed in {sorted(BUILT_ONCE[name])})"
        for module, tree in _modules()
        for name in sorted(constructor_calls(tree))
        if module not in BUILT_ONCE[name]
    ]
    assert not strays, "\n".join(strays)
    # Both entry points take it from there: serve's lifespan and the worker command's.
    app = ast.parse((ROUTER / "app.py").read_text())
    assert sum(isinstance(n, ast.Call) and ast.unparse(n.func) == "Runtime" for n in ast.walk(app)) == 2
