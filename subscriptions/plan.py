"""What applying a set of records would change, and applying it in one registry write.

The rules (the README's Configure section documents them for operators):

- A workflow's activations among the records are authoritative for that workflow: a stored activation of a
  named workflow whose user is not named is deleted. The lifecycle then sees the user no longer activated and
  deletes the provider-side subscription nobody else needs.
- With ``prune``, every stored record of the records' project that they do not name is deleted. Records of
  other projects are never read for deletion; records the registry cannot read are left alone (their project
  cannot be told). Users the SDK created (``origin: sdk``) are spared, with their credentials and resource
  connections (those whose integration or API resource stays), unless ``prune_sdk_users``: the operator never
  listed them, so a file that does not list them says nothing about them.
- An integration's ``secrets``, a credential's ``values`` and ``config`` and a user's ``metadata`` and ``origin``
  that the records omit are kept from the stored record: an operator may have armed a handshake secret or stored
  a token through the API, a user may have configured their account or set their metadata through the SDK, and a
  file that never mentions them must not wipe them. Naming the field replaces it (``metadata: {}`` clears it).
- An update names the fields it changes (never their values) and, among them, the ones it drops: fields the
  stored record has that the records omit, which fall back to their defaults. A change also names the fields it
  keeps: ones the records omit whose stored value is kept (and not empty).

``plan`` reads; ``apply`` writes every put and every deletion in one MULTI with one version bump, so readers
see all of it or none, and a failure leaves nothing half-written. The admin API writes through ``apply_built``:
the same rules, with the records (and any deletions) built from the stored records the plan is made from, so a
check of what is stored (an ETag, a merge patch's base, a reference) is atomic with the write.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from subscriptions.custom import CustomWebhook, ResourceConnection
from subscriptions.errors import RegistryChanged
from subscriptions.models import (
    RECORD_TYPES,
    Activation,
    ConnectedUser,
    Credential,
    Integration,
    Project,
    Workflow,
)
from subscriptions.registry import Registry, Write, plain

# Write-only fields (secrets), what users set through the SDK (their accounts' config, their metadata) and who
# created a user: a file or a PUT that does not mention them must not wipe them.
KEPT_WHEN_OMITTED: dict[type[BaseModel], tuple[str, ...]] = {
    Integration: ("secrets",),
    Credential: ("values", "config"),
    CustomWebhook: ("secrets",),
    ResourceConnection: ("values",),
    ConnectedUser: ("metadata", "origin"),
}
# Write-only members of a record's nested objects, kept the same way: (field, member). Written as ``null``, removed.
NESTED_KEPT_WHEN_OMITTED: dict[type[BaseModel], tuple[tuple[str, str], ...]] = {
    Integration: (("options", "client_secret"),),
}


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    id: str
    action: str  # created | updated | unchanged | deleted
    fields: tuple[str, ...] = ()  # top-level fields an update changes: names only, never values
    drops: tuple[str, ...] = ()  # of those, the ones the records omit while the stored record has them
    keeps: tuple[str, ...] = ()  # fields the records omit whose stored, non-empty value is kept (KEPT_WHEN_OMITTED)

    @property
    def label(self) -> str:
        notes = [
            f"{word}: {', '.join(names)}" for word, names in (("drops", self.drops), ("keeps", self.keeps)) if names
        ]
        return f"{self.action} ({'; '.join(notes)})" if notes else self.action


@dataclass(frozen=True, slots=True)
class Plan:
    changes: list[Change]
    writes: list[Write]
    deletes: list[tuple[str, str]]  # (registry kind, id)
    version: int  # the registry version it was planned at


ATTEMPTS = 3  # plans made before giving up on a registry that keeps changing underneath

Stored = dict[str, list[BaseModel]]  # registry kind → its readable records
# What to write and delete, built from the stored records; raising aborts with nothing written.
Build = Callable[[Stored], Awaitable[tuple[list[BaseModel], list[tuple[str, str]]]]]


def kind_label(kind: str) -> str:
    """The name the change table uses for a registry kind (``connecteduser`` reads as ``user``)."""
    return RECORD_TYPES[kind].__name__.lower().replace("connecteduser", "user")


def project_of(record: BaseModel) -> str:
    return record.id if isinstance(record, Project) else str(getattr(record, "project", ""))


async def plan(
    registry: Registry,
    records: list[BaseModel],
    *,
    prune: bool = False,
    prune_sdk_users: bool = False,
    deletes: Iterable[tuple[str, str]] = (),
    loaded: tuple[tuple[str, int], Stored] | None = None,
) -> Plan:
    """What ``apply`` would do; writes nothing. ``prune`` needs the project record among ``records``;
    ``prune_sdk_users`` lets it delete the users the SDK created too; ``deletes`` are (registry kind, id) pairs
    deleted besides; ``loaded`` is a ``registry.load()`` to plan from."""
    (_, version), stored = loaded or await registry.load()
    by_key = {(kind, str(r.model_dump()["id"])): r for kind, rs in stored.items() for r in rs}
    writes: list[Write] = []
    changes: list[Change] = []
    for record in records:
        written = _keep_omitted(record, by_key)
        write = await registry.prepare(written)
        writes.append(write)
        changes.append(_change(write, record, written))
    named = {(w.kind, w.id) for w in writes}
    gone = _unlisted_activations(records, stored.get("activation", []), named) | (set(deletes) - named)
    if prune:
        projects = {r.id for r in records if isinstance(r, Project)}
        if len(projects) != 1:
            raise ValueError("pruning needs exactly one project among the records")
        gone |= _unnamed(projects.pop(), stored, named, spare_sdk_users=not prune_sdk_users)
    ordered = sorted(gone)
    changes += [Change(kind_label(kind), record_id, "deleted") for kind, record_id in ordered]
    return Plan(changes, writes, ordered, version)


async def apply(
    registry: Registry, records: list[BaseModel], *, prune: bool = False, prune_sdk_users: bool = False
) -> list[Change]:
    """Upsert ``records`` and delete what the rules above say, in one registry write. Raises RegistryChanged
    (nothing written) if other changes kept landing while it planned."""
    steps = await _committed(registry, lambda: plan(registry, records, prune=prune, prune_sdk_users=prune_sdk_users))
    return steps.changes


async def apply_built(registry: Registry, build: Build) -> Plan:
    """Like ``apply`` (same rules, one registry write), with the records and deletions ``build`` makes from the
    stored records. The commit is made at the version ``build`` saw, so what it checked still holds when the
    write lands; if the registry moved meanwhile, it builds again. Returns the plan written."""

    async def planned() -> Plan:
        loaded = await registry.load()
        records, deletes = await build(loaded[1])
        return await plan(registry, records, deletes=deletes, loaded=loaded)

    return await _committed(registry, planned)


async def _committed(registry: Registry, planned: Callable[[], Awaitable[Plan]]) -> Plan:
    # A plan is committed at the version it was made at; another write landing first means planning again.
    attempt = 1
    while True:
        steps = await planned()
        try:
            await registry.commit(steps.writes, steps.deletes, at_version=steps.version)
        except RegistryChanged:
            if attempt >= ATTEMPTS:
                raise
            attempt += 1
        else:
            return steps


def kept(record: BaseModel, stored: Stored) -> BaseModel:
    """``record`` with the write-only fields it omits taken from its stored version (``KEPT_WHEN_OMITTED``), as
    ``apply`` writes it."""
    return _keep_omitted(record, {(kind, str(r.model_dump()["id"])): r for kind, rs in stored.items() for r in rs})


def _keep_omitted(record: BaseModel, stored: Mapping[tuple[str, str], BaseModel]) -> BaseModel:
    kept = KEPT_WHEN_OMITTED.get(type(record), ())
    omitted = [name for name in kept if name not in record.model_fields_set]
    nested = [(f, m) for f, m in NESTED_KEPT_WHEN_OMITTED.get(type(record), ()) if _omits(record, f, m)]
    if not omitted and not nested:
        return record
    key = (_registry_kind(record), str(record.model_dump()["id"]))
    current = stored.get(key)
    if current is None or type(current) is not type(record) or project_of(current) != project_of(record):
        return record
    update = {name: getattr(current, name) for name in omitted}
    for name, member in nested:
        value = getattr(getattr(current, name), member)
        if value is not None:
            update[name] = getattr(record, name).model_copy(update={member: value})
    return record.model_copy(update=update) if update else record


def _omits(record: BaseModel, name: str, member: str) -> bool:
    # Omitted: the object is left out, or it leaves the member out (an explicit null removes it).
    inner = getattr(record, name)
    return name not in record.model_fields_set or member not in inner.model_fields_set


def _change(write: Write, record: BaseModel, written: BaseModel) -> Change:
    """``record`` as given, ``written`` with the fields it omits kept from the stored record."""
    kind = kind_label(write.kind)
    keeps = tuple(
        name
        for name in KEPT_WHEN_OMITTED.get(type(record), ())
        if name not in record.model_fields_set and getattr(written, name) != getattr(record, name)
    )
    if write.action != "updated" or write.current is None:
        return Change(kind, write.id, write.action, keeps=keeps)
    old, new = plain(write.current), plain(written)
    fields = tuple(sorted(name for name in old.keys() | new.keys() if old.get(name) != new.get(name)))
    drops = tuple(name for name in fields if name not in record.model_fields_set)
    return Change(kind, write.id, write.action, fields, drops, keeps)


def _unlisted_activations(
    records: Iterable[BaseModel], stored: Iterable[BaseModel], named: set[tuple[str, str]]
) -> set[tuple[str, str]]:
    workflows = {(r.project, r.id) for r in records if isinstance(r, Workflow)}
    return {
        ("activation", a.id)
        for a in stored
        if isinstance(a, Activation) and (a.project, a.workflow) in workflows and ("activation", a.id) not in named
    }


def _unnamed(
    project: str, stored: Mapping[str, list[BaseModel]], named: set[tuple[str, str]], *, spare_sdk_users: bool
) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for kind, found in stored.items():
        for record in found:
            key = (kind, str(record.model_dump()["id"]))
            if project_of(record) == project and key not in named:
                out.add(key)
    return out - _spared(stored, out) if spare_sdk_users else out


def _spared(stored: Mapping[str, list[BaseModel]], unnamed: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Of the unnamed records, the SDK's users and what they connected (while what it names stays)."""
    users = {r.id for r in stored.get("user", []) if isinstance(r, ConnectedUser) and r.origin == "sdk"} & {
        record_id for kind, record_id in unnamed if kind == "user"
    }
    spared = {("user", u) for u in users}
    for c in stored.get("credential", []):
        if isinstance(c, Credential) and c.user in users and ("integration", c.integration) not in unnamed:
            spared.add(("credential", c.id))
    for rc in stored.get("resource_connection", []):
        if isinstance(rc, ResourceConnection) and rc.user in users and ("api_resource", rc.api_resource) not in unnamed:
            spared.add(("resource_connection", rc.id))
    return spared & unnamed


def _registry_kind(record: BaseModel) -> str:
    return next(kind for kind, model in RECORD_TYPES.items() if type(record) is model)
