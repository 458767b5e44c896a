"""/api/projects/...: every secret a record holds is write-only, and what an answer shows can be written back."""

from __future__ import annotations

import types
import typing
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from router.admin import record_views as views
from router.admin.record_writes import SEGMENTS
from router.settings import Settings
from subscriptions.models import RECORD_TYPES, Integration
from subscriptions.plan import KEPT_WHEN_OMITTED, NESTED_KEPT_WHEN_OMITTED
from subscriptions.registry import Registry, plain
from tests.router.conftest import Seed, running
from tests.router.record_support import BASE, OPERATOR, SAMPLES, assert_no_secret, record_id, seed_project

pytestmark = pytest.mark.anyio

CLIENT_SECRET = "oauth-client-SECRET"
URL = f"{BASE}/integrations/gh"


def _secret_paths(annotation: Any, where: str = "", seen: frozenset[type] = frozenset()) -> list[str]:
    """Every place a model (through its fields, lists, dicts and unions) holds a SecretStr."""
    if annotation is SecretStr:
        return [where]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation in seen:
            return []
        return [
            path
            for name, field in annotation.model_fields.items()
            for path in _secret_paths(field.annotation, f"{where}.{name}".lstrip("."), seen | {annotation})
        ]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (list, tuple, set, frozenset):
        return [p for a in args for p in _secret_paths(a, f"{where}[]", seen)]
    if origin is dict:
        return _secret_paths(args[1], f"{where}{{}}", seen)
    if origin in (typing.Union, types.UnionType) or origin is typing.Annotated:
        return [p for a in args for p in _secret_paths(a, where, seen)]
    return []


def test_no_answer_model_can_show_a_secret() -> None:
    shown = {kind: _secret_paths(view) for kind, view in views.VIEWS.items()}
    assert shown == {kind: [] for kind in views.VIEWS}


def test_every_secret_a_record_holds_is_kept_when_omitted_or_required() -> None:
    # A secret an answer does not show must survive a write that does not name it, or the write must fail (a
    # required one): a new secret-bearing field shows up here until it has one of the two treatments.
    required = {"workflow": {"target.url", "target.secrets[]", "request.param_validations[].value"}}
    required["workflow"] |= {"request.header_validations[].value", "request.body_validations[].value"}
    # Destinations have their own API: what its answers show (the URL's host, <redacted>) keeps the stored values.
    required["destination"] = {"url", "headers{}"}
    for kind, model in RECORD_TYPES.items():
        kept = {
            p
            for p in _secret_paths(model)
            if p.split(".")[0].split("[")[0].split("{")[0] in KEPT_WHEN_OMITTED.get(model, ())
        }
        kept |= {f"{f}.{m}" for f, m in NESTED_KEPT_WHEN_OMITTED.get(model, ())}
        unaccounted = set(_secret_paths(model)) - kept - required.get(kind, set())
        assert not unaccounted, f"{kind}: {sorted(unaccounted)} are neither kept when omitted nor required"
    assert "options.client_secret" in _secret_paths(Integration)


async def _stored(registry: Registry) -> Integration:
    record = await registry.get("integration", "gh")
    assert isinstance(record, Integration)
    return record


async def test_an_oauth_client_secret_is_never_shown_and_survives_a_get_put_round_trip(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed_project(seed)
    body = {"type": "github", "secrets": ["gh-signing-SECRET-1"]}
    options = {"client_id": "app-1", "client_secret": CLIENT_SECRET}
    async with running(settings) as http:
        created = await http.put(URL, json={**body, "options": options}, headers=OPERATOR)
        assert created.status_code == 201, created.text
        read = await http.get(URL, headers=OPERATOR)
        shown = read.json()
        assert shown["options"]["client_secret_set"] is True and "client_secret" not in shown["options"]
        assert CLIENT_SECRET not in read.text and views.MASK not in read.text
        back = await http.put(URL, json=shown, headers=OPERATOR)  # the answer, as it was shown
        assert back.status_code == 200, back.text
        assert (await _stored(registry)).options.client_secret == SecretStr(CLIENT_SECRET)
        masked = {**body, "options": {"client_id": "app-1", "client_secret": views.MASK}}
        again = await http.put(URL, json=masked, headers=OPERATOR)  # how older answers showed it
        assert again.status_code == 200 and again.json()["options"]["client_secret_set"] is True
        assert (await _stored(registry)).options.client_secret == SecretStr(CLIENT_SECRET)
        omitted = await http.put(URL, json=body, headers=OPERATOR)  # no options at all: still kept
        assert (await _stored(registry)).options.client_secret == SecretStr(CLIENT_SECRET)
        assert omitted.json()["options"] == {**omitted.json()["options"], "client_id": None, "client_secret_set": True}
        rotated = await http.put(URL, json={**body, "options": {"client_secret": "rotated-SECRET"}}, headers=OPERATOR)
        assert rotated.headers["etag"] != omitted.headers["etag"] and "rotated-SECRET" not in rotated.text
        assert (await _stored(registry)).options.client_secret == SecretStr("rotated-SECRET")
        patched = await http.patch(URL, json={"options": {"client_id": "app-2"}}, headers=OPERATOR)
        assert patched.status_code == 200 and patched.json()["options"]["client_secret_set"] is True
        assert (await _stored(registry)).options.client_secret == SecretStr("rotated-SECRET")
        removed = await http.patch(URL, json={"options": {"client_secret": None}}, headers=OPERATOR)
        assert removed.status_code == 200 and removed.json()["options"]["client_secret_set"] is False
        assert (await _stored(registry)).options.client_secret is None
        version = await registry.version()
        nothing = await http.put(URL, json=masked, headers=OPERATOR)  # the mask with nothing stored to keep
        assert nothing.status_code == 422, nothing.text
        assert [e["field"] for e in nothing.json()["errors"]] == ["options.client_secret"]
        assert await registry.version() == version
        assert (await _stored(registry)).options.client_secret is None


async def test_the_mask_is_never_stored_as_any_secret(settings: Settings, seed: Seed, registry: Registry) -> None:
    await seed_project(seed)
    version = await registry.version()
    async with running(settings) as http:
        signing = await http.put(URL, json={"type": "github", "secrets": [views.MASK]}, headers=OPERATOR)
        value = await http.put(
            f"{BASE}/credentials/cred-u1",
            json={"user": "u1", "integration": "slack-app", "values": {"access_token": views.MASK}},
            headers=OPERATOR,
        )
    assert signing.status_code == 422 and signing.json()["errors"][0]["field"] == "secrets.0"
    assert value.status_code == 422 and value.json()["errors"][0]["field"] == "values.access_token"
    assert await registry.version() == version


@pytest.mark.parametrize("segment", sorted(SAMPLES))
async def test_writing_back_any_answer_keeps_every_secret_or_writes_nothing(
    settings: Settings, seed: Seed, registry: Registry, segment: str
) -> None:
    await seed_project(seed)
    body = SAMPLES[segment][0]
    url = f"{BASE}/{segment}/{record_id(segment)}"
    kind = SEGMENTS[segment]
    async with running(settings) as http:
        created = await http.post(f"{BASE}/{segment}", json=body, headers=OPERATOR)
        assert created.status_code == 201, created.text
        before = await registry.get(kind, record_id(segment))
        assert before is not None
        version = await registry.version()
        back = await http.put(url, json=created.json(), headers=OPERATOR)
        assert_no_secret(back.text)
    after = await registry.get(kind, record_id(segment))
    assert after is not None
    if back.status_code == 200:
        assert plain(after) == plain(before)  # every secret as it was
    else:
        assert back.status_code == 422 and await registry.version() == version  # refused: nothing written


async def test_a_destinations_redacted_url_and_headers_written_back_keep_the_stored_values(
    settings: Settings, seed: Seed, registry: Registry
) -> None:
    await seed(project=[{"id": "p1"}])
    url, header = "https://sink.example.com/dest-path-SECRET", "dest-header-SECRET"
    body = {"project": "p1", "template": "webhook", "url": url, "headers": {"x-api-key": header}}
    async with running(settings) as http:
        created = await http.put("/api/destinations/ops", json=body, headers=OPERATOR)
        assert created.status_code == 201, created.text
        stored = await registry.get("destination", "ops")
        shown = {"url": "https://sink.example.com/…", "headers": {"x-api-key": "<redacted>"}}
        back = await http.put("/api/destinations/ops", json={**body, **shown}, headers=OPERATOR)
        assert back.status_code == 200 and back.json()["change"] == "unchanged", back.text
        other_host = await http.put(
            "/api/destinations/ops", json={**body, "url": "https://elsewhere.example.com/…"}, headers=OPERATOR
        )
        new_header = await http.put(
            "/api/destinations/ops", json={**body, "headers": {"x-other": "<redacted>"}}, headers=OPERATOR
        )
        fresh = await http.put("/api/destinations/new", json={**body, **shown}, headers=OPERATOR)
    assert stored is not None and plain(await registry.get("destination", "ops") or stored) == plain(stored)
    for refused in (other_host, new_header, fresh):
        assert refused.status_code == 400 and refused.json()["code"] == "invalid_destination", refused.text
        assert "SECRET" not in refused.text
    assert await registry.get("destination", "new") is None
