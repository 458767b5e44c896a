"""Keys and ids made of several ids encode each part, so no two different lists of parts give the same one."""

from __future__ import annotations

import pytest

from router.routing.core import job
from router.storage.entries import IngestEvent
from router.storage.keys import (
    Keys,
    destination_job_id,
    part,
    replay_job_id,
    trigger_job_id,
)
from subscriptions.models import Workflow

KEYS = Keys()
EVENT = IngestEvent.from_fields({"project": b"p1"}, "1700000000000-0")


def _workflow(workflow_id: str) -> Workflow:
    return Workflow.model_validate({"id": workflow_id, "project": "p1", "integration": "i1"})


def test_trigger_jobs_whose_ids_joined_the_same_are_told_apart() -> None:
    # Workflow "w:x" for user "u" and workflow "w" for user "x:u" both made job "<event>:w:x:u".
    _, one = job(EVENT, KEYS, _workflow("w:x"), None, "u")
    _, other = job(EVENT, KEYS, _workflow("w"), None, "x:u")
    assert one["job_id"] != other["job_id"]
    _, plain = job(EVENT, KEYS, _workflow("wf-1"), None, "user-1")
    assert plain["job_id"] == f"{EVENT.id}:wf-1:user-1"  # ids without ':' keep the form they always had


def test_a_destination_job_is_never_a_trigger_job_of_a_workflow_named_dest() -> None:
    assert destination_job_id(EVENT.id, "alerts") != trigger_job_id(EVENT.id, "dest", "alerts")
    assert destination_job_id(EVENT.id, "a:b") != destination_job_id(EVENT.id, "a") + ":b"


def test_a_destination_shares_no_delivery_limits_with_a_workflow() -> None:
    # Limits, breaker and leases are keyed by target id: workflow "dest:alerts" used to share destination "alerts"'s.
    target = KEYS.destination_target("alerts")
    with pytest.raises(ValueError):
        _workflow(target)  # no workflow id can be it
    assert KEYS.target_breaker(target) != KEYS.target_breaker("dest:alerts")


def test_replay_and_order_keys_encode_their_parts() -> None:
    assert replay_job_id("j", "a:replay:b") != replay_job_id("j:replay:a", "b")
    assert KEYS.delivery_order("w:x", "c") != KEYS.delivery_order("w", "x:c")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("p", "a:b", "X-123"), ("p", "a", "b:X-123")),
        (("p:a", "b", "X"), ("p", "a:b", "X")),
        (("p", "i", "sha256=" + "0" * 64), ("p", "i", "y" * 300)),
    ],
)
def test_dedup_markers_of_different_deliveries_differ(
    first: tuple[str, str, str], second: tuple[str, str, str]
) -> None:
    assert KEYS.seen(*first) != KEYS.seen(*second)


def test_parts_hold_no_separator() -> None:
    assert ":" not in part("a:b") and "=" not in part("a=b") and part("user@example.com") == "user@example.com"
