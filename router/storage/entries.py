"""Typed stream entries: what each producer writes and each consumer reads, field by field.

One dataclass per kind of entry, with ``to_fields()`` (the exact fields its producers always wrote) and
``from_fields()`` (which reads entries written by any earlier version too). A field an entry kind does not know,
a required field missing, or a field of the wrong form raises ``MalformedEntry`` naming the entry and the field:
a misspelt name is an error, never a silent ``""``. Workers read with ``from_fields``; views (admin API, CLI,
indexes) with ``lenient``, which never fails on one odd entry. ``StreamId`` (``stream_id.py``) parses entry ids.

- ``IngestEvent``: the ingest stream (webhooks, custom webhooks, App Events, Request triggers, lifecycle
  events, and replayed copies of any of them).
- ``TriggerJob``: a job for a workflow (its trigger stream, or the shared delivery stream for HTTP targets),
  also a destination's job for one failure event (``target_kind="destination"``): one class, since the
  delivery worker takes both from the same stream and settles both the same way.
- ``Notification``: the notification stream's failure events.
- ``ExecutionReport``: runners' reports of finished executions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import orjson

from router.errors import RouterError

Fields = dict[str, str | bytes]


class MalformedEntry(RouterError, ValueError):
    """A stored entry its reader cannot take: a required field missing, an unknown field, or one of the wrong form.

    Carries the entry's id and the field's name, never a value (values are payloads).
    """

    reason = "malformed_entry"

    def __init__(self, kind: str, entry_id: str, field: str, problem: str) -> None:
        super().__init__(f"{kind} entry {entry_id or '?'}: field {field!r} {problem}")
        self.kind = kind
        self.entry_id = entry_id
        self.field = field
        self.problem = problem


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _read(
    cls: type[Any], raw: Mapping[str, Any], entry_id: str, required: frozenset[str], binary: frozenset[str]
) -> dict[str, Any]:
    known = cls._known
    unknown = raw.keys() - known
    if unknown:
        raise MalformedEntry(cls.__name__, entry_id, min(unknown), "is not a field of this entry")
    missing = required - raw.keys()
    if missing:
        raise MalformedEntry(cls.__name__, entry_id, min(missing), "is missing")
    try:  # what Redis hands back: bytes throughout (the routing worker reads every event through here)
        values = {name: value.decode("utf-8", "replace") for name, value in raw.items() if name not in binary}
    except AttributeError:  # str or int values, from a caller rather than Redis
        values = {name: _text(value) for name, value in raw.items() if name not in binary}
    for name in binary & raw.keys():  # the body: never decoded, it may be megabytes
        values[name] = _raw(raw[name])
    return values


def _lenient(cls: type[Any], raw: Mapping[str, Any], required: frozenset[str]) -> dict[str, Any]:
    values = {name: (_raw(v) if name in cls._binary else _text(v)) for name, v in raw.items() if name in cls._known}
    for name in required - values.keys():
        values[name] = b"" if name in cls._binary else ""
    return values


def _milliseconds(kind: str, entry_id: str, name: str, value: str) -> None:
    if value and not (value.isascii() and value.isdigit()):
        raise MalformedEntry(kind, entry_id, name, "is not a time in milliseconds")


# -- ingest events ------------------------------------------------------------------------------------------------

# What each source's producer writes, in its order; every field not listed stays out of its entries. Webhooks wrote
# these fields until their metadata went into one field (``IngestEvent.to_fields``); lifecycle and poll still do.
_INGEST_COMMON = ("source", "project")
_INGEST_WRITTEN: dict[str, tuple[str, ...]] = {
    "webhook": (
        *_INGEST_COMMON,
        "integration",
        "integration_type",
        "provider_id",
        "credential",
        "event_type",
        "delivery_id",
        "received_at",
        "headers",
        "body",
    ),
    "custom": (
        *_INGEST_COMMON,
        "integration",
        "integration_type",
        "definition",
        "provider_id",
        "credential",
        "event_type",
        "delivery_id",
        "received_at",
        "headers",
        "body",
    ),
    "app_event": (*_INGEST_COMMON, "user", "credential", "event_type", "received_at", "headers", "body"),
    "request": (
        *_INGEST_COMMON,
        "workflow",
        "user",
        "credential",
        "execution_id",
        "event_type",
        "received_at",
        "headers",
        "body",
    ),
}
_INGEST_WRITTEN["lifecycle"] = _INGEST_WRITTEN["webhook"]
_INGEST_WRITTEN["poll"] = _INGEST_WRITTEN["webhook"]
_INGEST_WRITTEN["scheduler"] = (
    *_INGEST_COMMON,
    "workflow",
    "event_type",
    "delivery_id",
    "received_at",
    "headers",
    "body",
)  # a polled record, stored as its credential's webhook would be


# Not frozen: a frozen dataclass sets each of its 17 fields through object.__setattr__, which made building an
# entry on the ingest path about four times as slow as the dict it replaces (figures in the commit that made it).
@dataclass(slots=True)
class IngestEvent:
    """One stored event on the ingest stream.

    Every field may be absent from an entry an earlier version wrote, and reads as its default here, as it always
    read (``""``, ``b""`` for the body): webhooks predate ``source`` (``""`` routes as a webhook), and each source
    writes only its own fields (an App Event has no ``integration``). ``replay_of``/``replay``: set on a replayed
    copy only (the event copied, the replay request's id).
    """

    source: str = ""
    project: str = ""
    integration: str = ""
    integration_type: str = ""
    definition: str = ""  # custom webhooks: the definition that took it
    provider_id: str = ""
    credential: str = ""
    user: str = ""  # App Events and Request triggers: the calling user
    workflow: str = ""  # Request triggers: the workflow called
    execution_id: str = ""  # Request triggers stored before execution ids were job ids: the UUID the caller was given
    event_type: str = ""
    delivery_id: str = ""
    received_at: str = ""  # ms since the epoch, as decimal text
    headers: str = ""  # the stored header allow-list, as JSON
    body: bytes = b""
    replay_of: str = ""
    replay: str = ""
    request_id: str = ""  # the HTTP request that brought it (X-Request-Id), when known
    traceparent: str = ""  # its W3C trace context, sent on to HTTP targets
    id: str = ""  # the entry's stream id once stored (``from_fields``); not a stream field

    _known: ClassVar[frozenset[str]]
    _binary: ClassVar[frozenset[str]] = frozenset({"body"})

    @property
    def tenant(self) -> tuple[str, str]:
        """Whose event this is, for ``Keys.of_event`` (its shard): (integration, provider ID); without an
        integration (App Events, Request triggers, Scheduler ticks), (project, user or workflow)."""
        if self.integration:
            return self.integration, self.provider_id
        return self.project, self.user or self.workflow

    def to_fields(self) -> Fields:
        """The stream fields as this source's producer writes them: a webhook's metadata packed in ``meta``, every
        other source's fields as ``_INGEST_WRITTEN`` lists them."""
        return self._fields(self.replay_of, self.replay)

    def replayed_fields(self, of: str, request_id: str) -> Fields:
        """``replayed(of, request_id).to_fields()``, without building the copy: a reroute writes hundreds a batch."""
        return self._fields(of, request_id)

    def _fields(self, replay_of: str, replay: str) -> Fields:
        # Webhooks, the hot path: their metadata as one JSON field (``_META``) beside source, project (counted by
        # the append's script) and body. One serialisation in place of nine stream fields, each an argument for
        # redis-py to pack, a field for Redis to store and a reply for the routing worker to read.
        if self.source == "webhook":
            meta = {
                "integration": self.integration,
                "integration_type": self.integration_type,
                "provider_id": self.provider_id,
                "credential": self.credential,
                "event_type": self.event_type,
                "delivery_id": self.delivery_id,
                "received_at": self.received_at,
                "headers": self.headers,
            }
            if self.request_id:
                meta["request_id"] = self.request_id
                meta["traceparent"] = self.traceparent
            out: Fields = {"source": "webhook", "project": self.project, _META: orjson.dumps(meta), "body": self.body}
            if replay_of:
                out["replay_of"] = replay_of
                out["replay"] = replay
            return out
        if (written := _INGEST_WRITTEN.get(self.source)) is not None:
            out = {n: getattr(self, n) for n in written}
        else:  # no producer writes other sources (nor "" any more): keep whatever is set
            out = {n: getattr(self, n) for n in _INGEST_FIELDS if getattr(self, n)}
        if replay_of:
            out["replay_of"] = replay_of
            out["replay"] = replay
        if self.request_id:
            out["request_id"] = self.request_id
            out["traceparent"] = self.traceparent
        return out

    @classmethod
    def from_fields(cls, raw: Mapping[str, Any], entry_id: str = "") -> IngestEvent:
        values = _unpacked(raw, entry_id) if _META in raw else _read(cls, raw, entry_id, frozenset(), cls._binary)
        _milliseconds(cls.__name__, entry_id, "received_at", values.get("received_at", ""))
        return cls(**values, id=entry_id)

    @classmethod
    def lenient(cls, raw: Mapping[str, Any], entry_id: str = "") -> IngestEvent:
        """The fields this class knows, unchecked: for views (admin API, CLI, indexes) that show or file what is
        stored and must not fail on one odd entry. Workers read with ``from_fields``."""
        if _META in raw:
            raw = _unpacked_leniently(raw)
        return cls(**_lenient(cls, raw, frozenset()), id=entry_id)

    def replayed(self, of: str, request_id: str) -> IngestEvent:
        """A copy of this event for replay request ``request_id``; ``of`` is this event's id. Not stored yet."""
        copy: IngestEvent = _replace(self, replay_of=of, replay=request_id, id="")
        return copy


_INGEST_FIELDS = tuple(f.name for f in fields(IngestEvent) if f.name != "id")
IngestEvent._known = frozenset(_INGEST_FIELDS)

# The stream field holding a webhook's metadata as a JSON object of strings (entries written before it have each
# as a field of its own, and read the same). Any text field of the entry may be in it, never the body.
_META = "meta"
_META_KNOWN = IngestEvent._known - IngestEvent._binary
# What a reroute's copy, made inside Redis (``EventStore.copy_for_replay``), checks an entry's fields against, as
# ``from_fields`` does: the names an entry may have, and those its ``meta`` may hold.
INGEST_FIELD_NAMES = " ".join(_INGEST_FIELDS)
INGEST_META_NAMES = " ".join(sorted(_META_KNOWN))


def _meta(packed: Any) -> Any:
    try:
        return orjson.loads(packed)
    except (orjson.JSONDecodeError, TypeError):
        return None


def _unpacked(raw: Mapping[str, Any], entry_id: str) -> dict[str, Any]:
    """``_read`` of an entry with a ``meta`` field: the fields it holds spread among the entry's own; MalformedEntry
    when it is not a JSON object of known text fields, or names a field the entry also has on its own. (The routing
    worker reads every webhook through here: one pass over the few fields left.)"""
    meta = _meta(raw[_META])
    if type(meta) is not dict or any(type(value) is not str for value in meta.values()):
        raise MalformedEntry("IngestEvent", entry_id, _META, "is not a JSON object of strings")
    unknown = meta.keys() - _META_KNOWN
    if unknown:
        raise MalformedEntry("IngestEvent", entry_id, min(unknown), "is not a field of this entry")
    for name, value in raw.items():
        if name == _META:
            continue
        if name in meta:
            raise MalformedEntry("IngestEvent", entry_id, name, "is stored twice")
        if name not in IngestEvent._known:
            raise MalformedEntry("IngestEvent", entry_id, name, "is not a field of this entry")
        meta[name] = _raw(value) if name == "body" else _text(value)
    return meta


def _unpacked_leniently(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with what its ``meta`` field holds that is known, a string and not a field of its own; for views."""
    meta = _meta(raw[_META])
    out = {name: value for name, value in raw.items() if name != _META}
    if isinstance(meta, dict):
        for name, value in meta.items():
            if name in _META_KNOWN and isinstance(value, str) and name not in out:
                out[name] = value
    return out


def _replace(entry: Any, **changes: Any) -> Any:
    kind = type(entry)
    names = _NAMES.get(kind)
    if names is None:  # dataclasses.fields() builds its answer on every call: most of a copy's cost
        names = _NAMES[kind] = tuple(f.name for f in fields(entry))
    values = {name: getattr(entry, name) for name in names}
    values.update(changes)
    return kind(**values)


_NAMES: dict[type[Any], tuple[str, ...]] = {}


# -- jobs ---------------------------------------------------------------------------------------------------------

# The event fields a trigger job carries, so a runner needs nothing but the job.
JOB_EVENT_FIELDS = (
    "project",
    "integration",
    "integration_type",
    "provider_id",
    "event_type",
    "delivery_id",
    "received_at",
    "headers",
    "body",
)


@dataclass(frozen=True, slots=True)
class TriggerJob:
    """A job on a workflow's trigger stream or the delivery stream, as routing, replay and fan-out write it, and as
    the delivery worker keeps it (its hash, its dead letter).

    Required: ``event_id``. Absent fields read as ``""`` (``b""`` for the body, ``None`` for the attempt lists),
    as they always read: a workflow's job carries every event field of ``JOB_EVENT_FIELDS`` (earlier versions
    copied only those its event had, so an App Event's job had no ``provider_id``), a destination's job
    (``target_kind="destination"``) has ``destination`` and ``notification`` instead of a workflow's fields.
    ``job_id`` absent (jobs before deterministic ids): the job is known by its entry id, see ``key()``.
    ``user_settings``: what the credential's ``config`` holds for the workflow (``router.routing.user_settings``).
    ``attempts``, ``dead_reason``, ``dead_at``, ``source_id``: written by the delivery worker (hash and dead
    letter); ``previous_attempts``: a re-driven dead letter's history. Replays add ``replay_of``,
    ``replay_of_job`` and ``replay``.
    """

    event_id: str
    job_id: str = ""
    workflow: str = ""
    credential: str = ""
    user: str = ""
    trigger_type: str = ""
    execution_id: str = ""  # as the ingest event's (a UUID, from before execution ids were job ids)
    connection: str = ""  # custom webhooks on an API resource: the resource connection it runs for
    target_kind: str = ""
    destination: str = ""
    notification: bytes = b""
    project: str = ""
    integration: str = ""
    integration_type: str = ""
    provider_id: str = ""
    event_type: str = ""
    delivery_id: str = ""
    received_at: str = ""
    headers: str = ""
    body: bytes = b""
    replay_of: str = ""
    replay_of_job: str = ""
    replay: str = ""
    attempts: bytes | None = None  # JSON list; None: never attempted
    previous_attempts: bytes | None = None
    dead_reason: str = ""
    dead_at: str = ""
    source_id: str = ""
    request_id: str = ""  # the event's: sent to HTTP targets as X-Request-Id
    traceparent: str = ""  # the event's W3C trace context: sent to HTTP targets
    # The account's User Settings for this workflow, as routing found them: JSON {"settings", "sharedSettings"}
    # (members only when not empty; absent when both are); "too_large" in user_settings_omitted past the bound.
    user_settings: str = ""
    user_settings_omitted: str = ""

    _known: ClassVar[frozenset[str]]
    _binary: ClassVar[frozenset[str]] = frozenset({"body", "notification", "attempts", "previous_attempts"})

    def key(self, entry_id: str) -> str:
        """What the job is known by: its ``job_id``, or the entry id for a job written without one."""
        return self.job_id or entry_id

    def to_fields(self) -> Fields:
        """The fields producers always wrote (a workflow's job: its own and the event's, even when empty; a
        destination's: its own), then every other field that is set."""
        always = _DESTINATION_ALWAYS if self.target_kind else _WORKFLOW_ALWAYS
        out: Fields = {}
        for name in _JOB_FIELDS:
            value = getattr(self, name)
            if value or name in always:
                out[name] = value
        return out

    @classmethod
    def from_fields(cls, raw: Mapping[str, Any], entry_id: str = "") -> TriggerJob:
        values = _read(cls, raw, entry_id, _JOB_REQUIRED, cls._binary)
        _milliseconds(cls.__name__, entry_id, "received_at", values.get("received_at", ""))
        return cls(**values)

    @classmethod
    def lenient(cls, raw: Mapping[str, Any]) -> TriggerJob:
        """The fields this class knows, unchecked, for views: see ``IngestEvent.lenient``."""
        return cls(**_lenient(cls, raw, _JOB_REQUIRED))

    def replace(self, **changes: Any) -> TriggerJob:
        result: TriggerJob = _replace(self, **changes)
        return result


_JOB_FIELDS = tuple(f.name for f in fields(TriggerJob))
_JOB_REQUIRED = frozenset({"event_id"})
_WORKFLOW_ALWAYS = frozenset(
    {"job_id", "event_id", "workflow", "credential", "user", "trigger_type", *JOB_EVENT_FIELDS}
)
_DESTINATION_ALWAYS = frozenset({"job_id", "target_kind", "destination", "event_id", "project", "notification"})
TriggerJob._known = TRIGGER_JOB_FIELDS = frozenset(_JOB_FIELDS)


def workflow_job_fields(
    event: IngestEvent,
    *,
    job_id: str,
    workflow: str,
    credential: str,
    user: str,
    trigger_type: str,
    user_settings: str = "",
    user_settings_omitted: str = "",
) -> Fields:
    """The fields of a workflow's job for ``event`` with these fields (and the event's request id and trace
    context) set and no others: ``TriggerJob(...).to_fields()`` of that job, in the same order, built without the
    job. Routing writes one per job, and a frozen dataclass of 32 fields costs more to build than its entry."""
    out: Fields = {
        "event_id": event.id,
        "job_id": job_id,
        "workflow": workflow,
        "credential": credential,
        "user": user,
        "trigger_type": trigger_type,
        "project": event.project,
        "integration": event.integration,
        "integration_type": event.integration_type,
        "provider_id": event.provider_id,
        "event_type": event.event_type,
        "delivery_id": event.delivery_id,
        "received_at": event.received_at,
        "headers": event.headers,
        "body": event.body,
    }
    if event.request_id:
        out["request_id"] = event.request_id
    if event.traceparent:
        out["traceparent"] = event.traceparent
    if user_settings:
        out["user_settings"] = user_settings
    if user_settings_omitted:
        out["user_settings_omitted"] = user_settings_omitted
    return out


# -- notifications ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Notification:
    """A failure event on the notification stream: its ``type``, its project's id (``""`` when it has none) and
    the event itself as JSON. All three were always written; ``project`` reads as ``""`` if absent.
    ``replay_of``: set on a copy the admin API replayed (the entry copied)."""

    type: str
    event: bytes
    project: str = ""
    replay_of: str = ""

    _known: ClassVar[frozenset[str]] = frozenset({"type", "project", "event", "replay_of"})
    _binary: ClassVar[frozenset[str]] = frozenset({"event"})

    def to_fields(self) -> Fields:
        out: Fields = {"type": self.type, "project": self.project, "event": self.event}
        if self.replay_of:
            out["replay_of"] = self.replay_of
        return out

    @classmethod
    def from_fields(cls, raw: Mapping[str, Any], entry_id: str = "") -> Notification:
        return cls(**_read(cls, raw, entry_id, _NOTIFICATION_REQUIRED, cls._binary))

    @classmethod
    def lenient(cls, raw: Mapping[str, Any]) -> Notification:
        """The fields this class knows, unchecked, for views: see ``IngestEvent.lenient``."""
        return cls(**_lenient(cls, raw, _NOTIFICATION_REQUIRED))


_NOTIFICATION_REQUIRED = frozenset({"type", "event"})


# -- execution reports -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """A runner's report of one finished execution, on the executions stream (``RunnerClient.report_success`` /
    ``report_failure``). Required: ``type`` (``workflow_success`` or ``workflow_failure``); every other field was
    always written and reads as ``""`` if absent. ``data``: the platform event's ``data`` object, as JSON;
    ``timestamp``: ms, decimal text."""

    type: str
    timestamp: str = ""
    timestampISO: str = ""  # camelCase: the name the field was always stored under
    execution_id: str = ""
    job_id: str = ""
    event_id: str = ""
    project: str = ""
    workflow: str = ""
    integration: str = ""
    integration_type: str = ""
    user: str = ""
    credential: str = ""
    error: str = ""
    data: bytes = b""

    _known: ClassVar[frozenset[str]]
    _binary: ClassVar[frozenset[str]] = frozenset({"data"})

    def to_fields(self) -> Fields:
        return {name: getattr(self, name) for name in _REPORT_FIELDS}

    @classmethod
    def from_fields(cls, raw: Mapping[str, Any], entry_id: str = "") -> ExecutionReport:
        values = _read(cls, raw, entry_id, frozenset({"type"}), cls._binary)
        _milliseconds(cls.__name__, entry_id, "timestamp", values.get("timestamp", ""))
        return cls(**values)


_REPORT_FIELDS = tuple(f.name for f in fields(ExecutionReport))
ExecutionReport._known = frozenset(_REPORT_FIELDS)


__all__ = [
    "JOB_EVENT_FIELDS",
    "TRIGGER_JOB_FIELDS",
    "ExecutionReport",
    "IngestEvent",
    "MalformedEntry",
    "Notification",
    "TriggerJob",
]
