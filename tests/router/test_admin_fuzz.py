"""Schema-driven fuzzing of the admin API: Schemathesis generates requests for every operation of the OpenAPI
schema, valid and invalid, and sends them in turn as the operator and as a project's key to the app served by
uvicorn on a seeded Redis. Every answer must be no 5xx, a status the operation documents, with the content type
and the body the schema says.

The run is bounded and the same on every machine: a fixed seed, derandomized generation, a capped number of
examples per operation (``FUZZ_EXAMPLES`` in the environment raises it for a deeper run) and no shrinking (a
failure is reported as found).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from router.admin.api import create_api
from tests.router.conftest import ADMIN_TOKEN, make_registry, make_seed, make_settings
from tests.router.live import serve
from tests.router.test_admin_scopes import key
from tests.router.test_replay import post_events, route_all

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 13,
        "generation": {
            "mode": "all",
            "max-examples": EXAMPLES,
            "no-shrink": True,
            "deterministic": True,
            "database": "none",
        },
        # The coverage phase sends every boundary value of every member: thousands of requests for one record
        # route, minutes in all. The fuzzing phase's capped examples, valid and invalid, keep the run bounded.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
    }
)
# Operations whose route does not yet declare everything it answers, each with what the fuzzer finds. Each is a
# strict xfail: once the route is typed, its test passes, fails as XPASS, and the entry goes.
KNOWN_FAILURES: dict[str, str] = {}
KNOWN_FAILURE_SETTINGS = settings(
    max_examples=4 * EXAMPLES, derandomize=True, deadline=None, database=None, phases=[Phase.explicit, Phase.generate]
)
# The schema the app serves at /api/openapi.json (test_the_fuzzed_schema_is_the_served_one checks it).
SCHEMA = schemathesis.openapi.from_dict(create_api().openapi(), config=CONFIG)


CALLERS = ["operator", "project"]


@dataclass(frozen=True, slots=True)
class Live:
    base_url: str  # where the schema's "/api" server is
    callers: dict[str, dict[str, str]]  # who calls → the Authorization header


# Ids that exist once the registry is seeded, by path parameter name: half the generated requests name one, so
# the fuzzer reaches past "not found" into the routes' real work.
EXISTING: dict[str, list[str]] = {
    "integration_id": ["slack-app"],
    "workflow_id": ["wf-1"],
    "destination_id": ["dest-1"],
    "credential_id": ["cred-u1"],
    "project_id": ["p1"],
    "record_id": ["slack-app", "u1", "cred-u1", "wf-1"],  # a project's records, whatever their kind
    "key_id": [],  # filled in with a spare key's id
    "event_id": [],  # and the stored events' ids
}


async def _prepare(redis_url: str) -> dict[str, dict[str, str]]:
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        registry = make_registry(redis)
        await make_seed(registry)(
            project=[{"id": "p1"}],
            integration=[{"id": "slack-app", "type": "slack", "secrets": ["slack-signing-secret"]}],
            user=[{"id": "u1"}],
            credential=[{"id": "cred-u1", "user": "u1", "integration": "slack-app", "provider_id": "T0001"}],
            workflow=[{"id": "wf-1", "name": "On message", "integration": "slack-app", "trigger": "*"}],
            destination=[{"id": "dest-1", "type": "webhook", "url": "http://127.0.0.1:9/hook"}],
            activate=[("wf-1", "u1")],
        )
        EXISTING["event_id"][:] = await post_events(make_settings(redis_url), 2)
        await route_all(redis, registry)
        spare = await key(redis, "project:p1:read")
        EXISTING["key_id"][:] = [spare["authorization"].split("_")[1]]
        return {
            "operator": {"authorization": f"Bearer {ADMIN_TOKEN}"},
            "project": await key(redis, "project:p1:write"),
        }
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def live(redis_url: str) -> Iterator[Live]:
    callers = asyncio.run(_prepare(redis_url))
    with serve(make_settings(redis_url)) as base_url:
        yield Live(f"{base_url}/api", callers)


@SCHEMA.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    if not path_parameters:
        return st.just(path_parameters)
    choices = {name: st.sampled_from([value, *EXISTING.get(name, [])]) for name, value in path_parameters.items()}
    return st.fixed_dictionaries(choices)


def _call(case: schemathesis.Case[Any], live: Live, caller: str) -> None:
    case.call_and_validate(base_url=live.base_url, headers=live.callers[caller], checks=CHECKS)


# Requests take turns between the callers (Schemathesis refuses a drawn one next to the schema's examples).
TURNS = itertools.cycle(CALLERS)


@(SCHEMA.exclude(name=list(KNOWN_FAILURES)) if KNOWN_FAILURES else SCHEMA).parametrize()
def test_every_operation_answers_as_documented(case: schemathesis.Case[Any], live: Live) -> None:
    _call(case, live, next(TURNS))


if KNOWN_FAILURES:  # defined only while there are some: an empty parametrization would be a skipped test
    # A plain test, not a Schemathesis one: its pytest plugin cannot report a strict xfail that passes.
    @pytest.mark.xfail(strict=True, reason="the route does not declare what it answers yet: see KNOWN_FAILURES")
    @pytest.mark.parametrize("label", sorted(KNOWN_FAILURES))
    def test_known_failure(label: str, live: Live) -> None:
        method, path = label.split(" ", 1)
        operation = SCHEMA[path][method]
        cases = st.one_of(*(operation.as_strategy(mode) for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))

        @KNOWN_FAILURE_SETTINGS
        @given(case=cases, caller=st.sampled_from(CALLERS))
        def run(case: schemathesis.Case[Any], caller: str) -> None:
            _call(case, live, caller)

        run()


def test_the_fuzzed_schema_is_the_served_one(live: Live) -> None:
    served = httpx.get(f"{live.base_url}/openapi.json").json()
    assert served == SCHEMA.raw_schema
    operations = {f"{method.upper()} {path}" for path, methods in served["paths"].items() for method in methods}
    assert len(operations) >= 33
    assert set(KNOWN_FAILURES) <= operations  # a fixed or renamed operation leaves the list


# Found by deeper runs: a cursor at the end of the id space a list pages toward is a bound Redis refuses (a 500).
LAST_ID = f"{2**64 - 1}-{2**64 - 1}"


@pytest.mark.parametrize(
    ("path", "cursor"),
    [("/audit", "0-0"), ("/audit", "00-00"), ("/notifications", "0-0"), ("/dead-letters", LAST_ID)],
)
def test_a_cursor_past_which_nothing_lies_is_an_empty_page(path: str, cursor: str, live: Live) -> None:
    reply = httpx.get(f"{live.base_url}{path}", params={"cursor": cursor}, headers=live.callers["operator"])
    assert reply.status_code == 200, reply.text
    assert (reply.json()["data"], reply.json()["next"]) == ([], None)
