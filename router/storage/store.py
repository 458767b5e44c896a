"""EventStore: the only module that issues Redis Stream (X*) commands.

Appends from concurrent requests are coalesced: every append made while a pipeline is in flight
joins the next one, so N simultaneous webhooks cost about one round trip, and each caller still
gets back only once its own entry's XADD has returned. A caller waits at most ``deadline_s`` for that
(then StoreUnavailable: the receiver answers 503 and the provider retries); an append whose caller has
given up is not sent at all.

Delivery jobs are stored once, however often they are retried. A new job is one work-stream entry with
all its fields (body included). Its first reschedule moves those fields into the job's hash, in the
MULTI that acks the entry (which the acked-entry trim then drops); the scheduled set holds only the job
id, and a job that comes due goes back on the work stream as a small reference entry (``job_ref``), its
hash staying where it is. Later reschedules rewrite only the attempt history. The hash goes when the job
ends (delivered, or moved into the dead-letter stream), in the same MULTI as its ack. Why not the body
referenced from the ingest stream instead: destination jobs and re-driven dead letters have no ingest
entry, and a project's retention may be shorter than a retry schedule; a job that carries what it sends
never depends on another key's retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from router.errors import StoreUnavailable
from router.storage import scripts, timing
from router.storage.entries import INGEST_FIELD_NAMES, INGEST_META_NAMES
from router.storage.keys import OBSERVER_GROUP, Keys
from router.storage.redis_client import decoded
from router.storage.stream_id import U64, InvalidStreamId, StreamId, event_id
from router.tasks import cancel

Fields = Mapping[str, str | bytes | int]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    stream: str
    id: str
    fields: dict[str, bytes]  # read them through a typed entry (router/storage/entries.py), never by bare name


def _wire(fields: Mapping[str, Any]) -> dict[Any, Any]:
    # redis-py types field mappings as invariant dicts of its EncodableT union; ours are narrower.
    return dict(fields)


def _finished(outcome: Settle) -> bool:
    """A settle that only ends its job: no retry, no dead letter, its hash to drop and its history to write."""
    return (
        outcome.retry_at is None
        and not outcome.dead_stream
        and bool(outcome.job_key and outcome.history_key and outcome.history)
    )


def _appended(stream: str, reply: Any, once: Once | None = None, drained: str | None = None) -> Appended:
    if isinstance(reply, list):
        created, entry_id = reply
        if not int(created) and drained is not None and once is not None and once.drained is not None:
            return Appended(event_id(drained, once.drained[1]), duplicate=True)  # stored in the drained shard
        return Appended(_out(stream, decoded(entry_id)), duplicate=not int(created))
    return Appended(_out(stream, decoded(reply)))


def _events(stream: str, entries: Iterable[Any]) -> list[StoredEvent]:
    out = []
    for entry_id, fields in entries:
        if fields is None:  # deleted (trimmed) while pending: nothing left to process
            continue
        names = {k.decode() if isinstance(k, bytes) else str(k): v for k, v in fields.items()}
        out.append(StoredEvent(stream, _out(stream, decoded(entry_id)), names))
    return out


# Ids in and out of a shard's ingest stream (a ``ShardStream``, router/storage/keys.py): callers see event ids
# (``<ms>-<seq>-<shard>`` past shard 0), Redis entry ids. Every other stream's ids pass through as they are.


def _shard(stream: str) -> int:
    return int(getattr(stream, "shard", 0))


def _out(stream: str, entry_id: str) -> str:
    return event_id(entry_id, _shard(stream))


def _in(stream: str, given: str) -> str | None:
    """The entry id of event id ``given`` in ``stream``; None when it names another shard's event."""
    if given.count("-") == 1:  # "<ms>-<seq>", as every id of shard 0 is (a batch's worth per ack): no parse
        return None if _shard(stream) else given
    try:
        parsed = StreamId.parse(given, partial=True, event=True)
    except InvalidStreamId:
        return given if not _shard(stream) else None  # left for the caller's own check, as before shards
    if parsed.shard != _shard(stream):
        return None
    return given if not parsed.shard else given.rsplit("-", 1)[0]


def _in_all(stream: str, ids: Iterable[str]) -> list[str]:
    return [entry for entry in (_in(stream, i) for i in ids) if entry is not None]


@dataclass(frozen=True, slots=True)
class Once:
    """Append only if ``key`` was not seen within ``ttl_s``; count repeats in hash ``counter`` under ``label``.

    ``key`` must share the stream's hash tag: the check and the XADD run in one script. ``before``, if set, is
    the same marker as an earlier version named it: a delivery it marked is a duplicate too (same hash tag).

    ``drained``, if set: (marker, shard) of the same delivery in the shard its tenant's events went to before a
    change of N (``Keys.before_change``). That marker is in another slot, so it is read before the append, in a
    round trip of its own, and a delivery it marked is answered as a duplicate with the event stored there. What
    remains: a copy stored in the old shard after that read, by a process still running with the old N during the
    switch, is not seen, and the two copies are both stored (once each). Copies arriving under the new N meet in
    the new shard's script, which stores one.
    """

    key: str
    ttl_s: int
    counter: str
    label: str
    before: str | None = None
    drained: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class Append:
    stream: str
    fields: Fields
    once: Once | None = None


@dataclass(frozen=True, slots=True)
class Counted:
    """Count what is appended to each stream of ``streams`` per minute, in the hash ``prefix + <epoch minute>``
    (``streams[stream]``: the stream's hash tag; one per ingest shard): ``stored`` and ``stored|<project>`` for each
    new entry (its id's minute), ``duplicate`` for each repeat a ``Once`` drops (the minute it came), ``routed`` for
    each outcome ``write`` records with jobs (the event's minute). Written by the command that appends the entry or
    the outcome, so a count is never off by a failed append or a re-routed event. Every hash expires ``ttl_s`` after
    the first count of the minute."""

    streams: Mapping[str, str]  # counted stream → prefix of its minute hashes
    outcomes: Mapping[str, str]  # routing outcomes hash → prefix of the minute hashes it counts in
    ttl_s: int


# Check-and-append in one atomic step: a provider's retry racing its first delivery cannot store twice, and
# the seen-marker is written only with the entry, so a failed XADD never turns a retry into a "duplicate".
# ARGV 1 marker TTL, 2 maxlen, 3 repeat label, 4 the entry id a drained shard's marker holds ("" if none: see
# ``Once.drained``), then the entry's fields. Returns {1, new id} or {0, id of the entry first stored}.
_APPEND_ONCE = """
local first = ARGV[4] ~= '' and ARGV[4] or redis.call('GET', KEYS[2])
if not first and KEYS[4] then first = redis.call('GET', KEYS[4]) end
if first then
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  return {0, first}
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 5))
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return {1, id}
"""


# Stream entry ids in scripts: ``parse`` into (ms, seq), ``before``: whether one comes before another.
_IDS = """
local function parse(id)
  local dash = string.find(id, '-', 1, true)
  return tonumber(string.sub(id, 1, dash - 1)), tonumber(string.sub(id, dash + 1))
end
local function before(a_ms, a_seq, b_ms, b_seq) return a_ms < b_ms or (a_ms == b_ms and a_seq < b_seq) end
"""

# Counting in the minute hashes of ``Counted``, shared by the scripts that count: ``name`` and ``name|<project>`` in
# the hash of the minute ``ms`` falls in (``prefix`` + epoch minute). The first count of a name in a minute sets the
# TTL: the hash's creator always makes one. ``id_ms``: the time of an entry id (when the store accepted it).
_COUNT = """
local function count(prefix, ttl, ms, name, project)
  local key = prefix .. string.format('%d', math.floor(ms / 60000))
  redis.call('HINCRBY', key, name .. '|' .. project, 1)
  if redis.call('HINCRBY', key, name, 1) == 1 then redis.call('EXPIRE', key, ttl) end
end
local function id_ms(id) return tonumber(string.match(id, '^(%d+)')) end
"""

# The same, counting: KEYS 1 stream, 2 stats prefix, then (with a Once) 3 marker, 4 repeat counter, 5 earlier
# marker. ARGV 1 maxlen, 2 stats TTL, 3 project, 4 marker TTL, 5 repeat label, 6 the entry id a drained shard's
# marker holds ("" if none), then the entry's fields.
# Returns as _APPEND_ONCE. The minute is the new entry's (its id's time: when the store accepted it).
_APPEND_COUNTED = (
    _COUNT
    + """
if KEYS[3] then
  local first = ARGV[6] ~= '' and ARGV[6] or redis.call('GET', KEYS[3])
  if not first and KEYS[5] then first = redis.call('GET', KEYS[5]) end
  if first then
    redis.call('HINCRBY', KEYS[4], ARGV[5], 1)
    local now = redis.call('TIME')
    count(KEYS[2], ARGV[2], tonumber(now[1]) * 1000, 'duplicate', ARGV[3])
    return {0, first}
  end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 7))
if KEYS[3] then redis.call('SET', KEYS[3], id, 'EX', ARGV[4]) end
count(KEYS[2], ARGV[2], id_ms(id), 'stored', ARGV[3])
return {1, id}
"""
)

# Routing outcomes, counting the routed: KEYS 1 outcomes hash, 2 stats prefix; ARGV 1 stats TTL, then per event
# (id, outcome, "1" when it made jobs else "0", project). An outcome written again (an event routed a second
# time after a crash before its ack) is not counted again: HSET answers 0 for a field it only replaced.
_OUTCOMES_COUNTED = (
    _COUNT
    + """
for i = 2, #ARGV, 4 do
  local new = redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  if new == 1 and ARGV[i + 2] == '1' then count(KEYS[2], ARGV[1], id_ms(ARGV[i]), 'routed', ARGV[i + 3]) end
end
return 0
"""
)

# Entries of one stream that share their field names, appended in order: the names once, then each entry's values
# (a trigger job has 15 fields or more: 36 arguments, most of packing a routing batch, become 15, and a hundred
# replies one). KEYS 1 the stream; ARGV 1 maxlen, 2 number of names n, then the n names, then n values per entry.
# Returns how many entries it appended.
_XADD_RUN = """
local n = tonumber(ARGV[2])
if n < 1 then return redis.error_reply('ERR no field names') end
local args = {'MAXLEN', '~', ARGV[1], '*'}
for i = 1, n do args[3 + 2 * i] = ARGV[2 + i] end
local added = 0
for a = 3 + n, #ARGV, n do
  for i = 1, n do args[4 + 2 * i] = ARGV[a + i - 1] end
  redis.call('XADD', KEYS[1], unpack(args))
  added = added + 1
end
return added
"""

# ``_XADD_RUN`` on a counted stream (``Counted``): each entry counted as stored, in its id's minute and under its
# ``project`` field, as ``_APPEND_COUNTED`` counts one. KEYS 1 the stream, 2 the stats prefix; ARGV 1 maxlen, 2 stats
# TTL, 3 number of names n, then the n names, then n values per entry. Returns how many entries it appended.
_XADD_RUN_COUNTED = (
    _COUNT
    + """
local n = tonumber(ARGV[3])
if n < 1 then return redis.error_reply('ERR no field names') end
local args = {'MAXLEN', '~', ARGV[1], '*'}
local p = 0
for i = 1, n do
  args[3 + 2 * i] = ARGV[3 + i]
  if ARGV[3 + i] == 'project' then p = i end
end
local added = 0
for a = 4 + n, #ARGV, n do
  for i = 1, n do args[4 + 2 * i] = ARGV[a + i - 1] end
  local id = redis.call('XADD', KEYS[1], unpack(args))
  count(KEYS[2], ARGV[2], id_ms(id), 'stored', p > 0 and ARGV[a + p - 1] or '')
  added = added + 1
end
return added
"""
)

# A reroute's copies, made where the originals are (router/history/replay.py): each original read and checked as
# ``IngestEvent.from_fields`` checks it, and appended again with its fields and body bytes as stored, the replay marks
# (``replay_of``, ``replay``) in place of any it had. Only the ids travel, as one argument; a copy's 1 KiB or more
# never goes through the client twice. KEYS[1] the shard's ingest stream; KEYS[2] (on a counted stream) the prefix of
# its minute counts, each copy counted as stored as ``_XADD_RUN_COUNTED`` counts. ARGV 1 maxlen, 2 counts' TTL, 3 the
# replay request's id, 4 "1": skip earlier copies, 5 and 6 the entry's known fields and those ``meta`` may hold
# (space separated), 7 what turns an entry id into its event id (the shard's suffix), 8 the entry ids in the order
# the copies go (space separated). Returns {one letter per id, the malformed entries' fields}: "c" copied, "n" not
# stored, "r" a copy skipped, "p" left to the caller (replay marks inside ``meta``: the caller writes that copy in
# today's layout), "m" malformed. The originals
# are read by one XRANGE over their span (2 entries per id at most), the rest one by one, as ``get_many`` reads.
_REPLAY_COPIES = (
    _COUNT
    + _IDS
    + """
local function words(s) local t = {} for w in string.gmatch(s, '%S+') do t[w] = true end return t end
local known, in_meta = words(ARGV[5]), words(ARGV[6])
local ids, n = {}, 0
if ARGV[8] == '' then return {'', {}} end
local lo_ms, lo_seq, hi_ms, hi_seq, lo, hi
for id in string.gmatch(ARGV[8], '%S+') do
  n = n + 1
  ids[n] = id
  local ms, seq = parse(id)
  if lo == nil or before(ms, seq, lo_ms, lo_seq) then lo, lo_ms, lo_seq = id, ms, seq end
  if hi == nil or before(hi_ms, hi_seq, ms, seq) then hi, hi_ms, hi_seq = id, ms, seq end
end
local found = {}
local span = redis.call('XRANGE', KEYS[1], lo, hi, 'COUNT', 2 * n)
for _, e in ipairs(span) do found[e[1]] = e[2] end
local reached_ms, reached_seq = hi_ms, hi_seq
if #span == 2 * n then reached_ms, reached_seq = parse(span[#span][1]) end
local function check(f)
  local own, meta = {}, nil
  for i = 1, #f, 2 do
    local name = f[i]
    if name == 'meta' then
      -- cjson refuses what the client's parser refuses (lone surrogates too) but bytes that are not UTF-8, which
      -- no writer of the router stores: such an entry is copied as it is, and routing refuses the copy instead.
      local text = f[i + 1]
      local ok, decoded = pcall(cjson.decode, text)
      if not ok or type(decoded) ~= 'table' or not string.find(text, '^%s*{') then return 'm:meta', '' end
      meta = decoded
    elseif known[name] then own[name] = f[i + 1]
    else return 'm:' .. name, '' end
  end
  local marked = false
  if meta then
    for k, v in pairs(meta) do
      if type(v) ~= 'string' then return 'm:meta', '' end
      if not in_meta[k] or own[k] ~= nil then return 'm:' .. k, '' end
      if k == 'replay_of' or k == 'replay' then marked = true end
    end
  end
  local received = own['received_at'] or (meta and meta['received_at']) or ''
  if received ~= '' and not string.find(received, '^%d+$') then return 'm:received_at', '' end
  local of = own['replay_of'] or (meta and meta['replay_of']) or ''
  if ARGV[4] == '1' and of ~= '' then return 'r', '' end
  if marked then return 'p', '' end
  return nil, own['project'] or (meta and meta['project']) or '', own['replay_of'] ~= nil or own['replay'] ~= nil
end
local codes, fields = {}, {}
for i = 1, n do
  local id = ids[i]
  local f = found[id]
  if f == nil then
    local ms, seq = parse(id)
    if before(reached_ms, reached_seq, ms, seq) then
      local one = redis.call('XRANGE', KEYS[1], id, id, 'COUNT', 1)
      if #one == 1 then f = one[1][2] end
    end
  end
  if f == nil then
    codes[i] = 'n'
  else
    local status, project, marked = check(f)
    if status then
      codes[i] = string.sub(status, 1, 1)
      if codes[i] == 'm' then fields[#fields + 1] = string.sub(status, 3) end
    else
      if marked then  -- a copy copied again: its marks give way to this replay's
        local unmarked = {}
        for j = 1, #f, 2 do
          if f[j] ~= 'replay_of' and f[j] ~= 'replay' then
            unmarked[#unmarked + 1] = f[j]
            unmarked[#unmarked + 1] = f[j + 1]
          end
        end
        f = unmarked
      end
      local last = #f
      f[last + 1], f[last + 2], f[last + 3], f[last + 4] = 'replay_of', id .. ARGV[7], 'replay', ARGV[3]
      local copy = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(f))
      if KEYS[2] then count(KEYS[2], ARGV[2], id_ms(copy), 'stored', project) end
      codes[i] = 'c'
    end
  end
end
return {table.concat(codes), fields}
"""
)

# A work batch whose every entry finished (no retry, no dead letter): for each, in order, what ``_queue_settle``
# queues (DEL the job's hash, ZREM it from the scheduled set and its ordered queue, HSET and EXPIRE its history),
# then the batch's XACK, in one call in place of a MULTI of four or five commands a job. KEYS: 1 the stream, then
# per job its hash, its history, and, when its flags say so, the scheduled set ('s') and its ordered queue ('o').
# ARGV: 1 the group, 2 the number of jobs, then per job its id, flags, history TTL, the number of history values
# (field, value, ...) and those; then the entry ids to ack. Returns how many were acked.
_SETTLE_FINISHED = """
local k, a = 2, 3
for _ = 1, tonumber(ARGV[2]) do
  local job, flags, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 3])
  local history = KEYS[k + 1]
  redis.call('DEL', KEYS[k])
  k = k + 2
  if string.find(flags, 's', 1, true) then
    redis.call('ZREM', KEYS[k], job)
    k = k + 1
  end
  if string.find(flags, 'o', 1, true) then
    redis.call('ZREM', KEYS[k], job)
    k = k + 1
  end
  if n > 0 then
    redis.call('HSET', history, unpack(ARGV, a + 4, a + 3 + n))
    redis.call('EXPIRE', history, ARGV[a + 2])
  end
  a = a + 4 + n
end
local acked = 0
for s = a, #ARGV, 5000 do
  acked = acked + redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, s, math.min(s + 4999, #ARGV)))
end
return acked
"""

# Due jobs go back to work as references: the body stays in the job's hash. The hashes are not in KEYS: they
# are named by the ids the script reads, and share the hash tag of KEYS, so the script stays on one slot of a
# cluster. A job whose hash is gone ended meanwhile (a duplicate entry of it was settled): it is only unscheduled.
# Returns {moved, score of the earliest job still scheduled or false}: when to look again.
_REQUEUE_DUE = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  if redis.call('EXISTS', ARGV[3] .. id) == 1 then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'job_ref', id)
  end
  redis.call('ZREM', KEYS[1], id)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#ids, first[2] or false}
"""

# Drop the entries every consumer group of the stream has acknowledged, and nothing else. A group has not
# finished its oldest pending entry (read, not acked) nor anything after its last-delivered id (not read yet);
# the cut is the lowest of those over all groups. A stream no group reads yet is left alone: its entries wait
# for their reader (retention and MAXLEN still bound them). Pending entries older than the stream's first entry
# were trimmed (retention) before anyone acked them: they hold nothing back, so the oldest pending entry that
# still exists counts (Redis 6.2 keeps such entries pending for good; 7 drops them on the next XAUTOCLAIM).
# One script, so a group created or rewound between reading the groups and trimming cannot lose entries.
# XINFO GROUPS and XPENDING answer the same on Redis 6.2 and 7. Returns how many entries were trimmed.
_TRIM_ACKED = (
    _IDS
    + """
local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if #head == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', KEYS[1])
if #groups == 0 then return 0 end
local first_ms, first_seq = parse(head[1][1])
local cut_ms, cut_seq = nil, nil
local function cut_of(name, last)
  local ms, seq = nil, nil
  local pending = redis.call('XPENDING', KEYS[1], name)
  if pending[1] > 0 then
    ms, seq = parse(pending[2])  -- the oldest entry read but not acked: keep it
    if before(ms, seq, first_ms, first_seq) then
      local live = redis.call('XPENDING', KEYS[1], name, head[1][1], '+', 1)
      if #live > 0 then ms, seq = parse(live[1][1]) else ms, seq = nil, nil end
    end
  end
  if ms == nil then
    ms, seq = parse(last)
    seq = seq + 1  -- everything up to the last entry handed out is acked: keep what follows it
  end
  return ms, seq
end
for _, group in ipairs(groups) do
  local name, last = nil, '0-0'
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] elseif group[i] == 'last-delivered-id' then last = group[i + 1] end
  end
  if name ~= ARGV[1] then  -- the observer group (ARGV[1]) neither holds entries back nor lets them go
    local ms, seq = cut_of(name, last)
    if cut_ms == nil or before(ms, seq, cut_ms, cut_seq) then cut_ms, cut_seq = ms, seq end
  end
end
if cut_ms == nil then return 0 end  -- only the observer reads it: kept, as a stream no group reads
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-%d', cut_ms, cut_seq))
"""
)


@dataclass(slots=True)
class _Run:
    """Entries of one stream with the same field names, for ``_XADD_RUN``: the names, every entry's values in turn."""

    names: tuple[str, ...]
    values: list[Any] = field(default_factory=list)
    size: int = 0  # bytes of the entries' bodies


_RUN_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Settle:
    """What became of one work entry: rescheduled (``retry_at``), dead-lettered, or done (``history`` only).

    ``fields``: for a reschedule, what to write into the job's hash (everything the first time, then only the
    attempts); for a dead letter, the dead-letter entry. ``job_key``: the job's hash, written on a reschedule
    and deleted otherwise (with the job's id taken off ``scheduled``, should a duplicate entry of it be there).
    """

    job_id: str
    fields: Mapping[str, Any]
    scheduled: str = ""
    job_key: str = ""
    job_ttl_s: int = 0  # a bound on a rescheduled job's hash, past its due time: never reached while it lives
    retry_at: float | None = None
    dead_stream: str = ""
    history_key: str = ""
    history: Mapping[str, Any] | None = None
    history_ttl_s: int = 86_400
    release_order: str = ""  # an ordered pair's queue to take this job off, letting the next one go


@dataclass(frozen=True, slots=True)
class Requeued:
    moved: int
    next_due: float | None  # when the earliest job still scheduled comes due (unix s); None: nothing scheduled


@dataclass(frozen=True, slots=True)
class Appended:
    id: str
    duplicate: bool = False


class EventStore:
    def __init__(
        self,
        redis: Redis,
        *,
        maxlen: int,
        group: str,
        consumer: str,
        deadline_s: float | None = None,
        counted: Counted | None = None,
    ) -> None:
        self._redis = redis
        self._counted = counted
        self._deadline_s = deadline_s
        self._maxlen = maxlen
        self._group = group
        self._consumer = consumer
        self._pending: list[tuple[Append, asyncio.Future[Appended]]] = []
        self._append_once = redis.register_script(_APPEND_ONCE)
        self._append_counted = redis.register_script(_APPEND_COUNTED)
        self._outcomes_counted = redis.register_script(_OUTCOMES_COUNTED)
        self._xadd_run = redis.register_script(_XADD_RUN)
        self._xadd_run_counted = redis.register_script(_XADD_RUN_COUNTED)
        self._replay_copies = redis.register_script(_REPLAY_COPIES)
        self._requeue = redis.register_script(_REQUEUE_DUE)
        self._trim_acked = redis.register_script(_TRIM_ACKED)
        self._settle_finished = redis.register_script(_SETTLE_FINISHED)
        self._flusher: asyncio.Task[None] | None = None
        # This loop turn's appends, under one timer, and the loop whose turn it is.
        self._expiry: tuple[asyncio.AbstractEventLoop, list[asyncio.Future[Appended]]] | None = None
        self.round_trips = 0  # pipelines sent by append(); lets tests and metrics see the coalescing

    @property
    def redis(self) -> Redis:
        return self._redis

    async def aclose(self) -> None:
        """Let appends in flight finish (up to the deadline), then stop; before the Redis client is closed."""
        flusher = self._flusher
        if flusher is None or flusher.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(flusher), self._deadline_s or 5.0)
        await cancel(flusher)

    # -- appending ---------------------------------------------------------------------------

    async def append(self, stream: str, fields: Fields) -> str:
        """XADD one entry; returns its id once Redis has it. Raises StoreUnavailable."""
        return (await self.add(Append(stream, fields))).id

    async def add(self, append: Append) -> Appended:
        """Append (or, with ``append.once``, append unless already seen); resolves once Redis answered."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Appended] = loop.create_future()
        self._pending.append((append, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        if self._deadline_s is not None:
            self._expiring(loop).append(future)
        return await future

    def _expiring(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.Future[Appended]]:
        # The appends of one loop turn share one timer (an asyncio.timeout per append cost more than its XADD's
        # share of the pipeline): each caller still waits at most the deadline, counted from its own turn.
        if self._expiry is None or self._expiry[0] is not loop:  # (a loop closed mid-turn left its group behind)
            self._expiry = (loop, [])
            loop.call_later(cast(float, self._deadline_s), self._expire, self._expiry[1])
            loop.call_soon(self._close_expiry)
        return self._expiry[1]

    def _close_expiry(self) -> None:
        self._expiry = None

    def _expire(self, futures: list[asyncio.Future[Appended]]) -> None:
        for future in futures:
            if not future.done():  # _flush drops it unsent: the caller was told 503
                future.set_exception(StoreUnavailable(f"event store did not answer within {self._deadline_s} s"))

    async def _flush(self) -> None:
        # Its own task: whoever started it, its pipelines are the coalesced appends of every caller.
        timing.set_operation("ingest")
        while self._pending:
            await asyncio.sleep(0)  # let every request of this loop turn join the batch
            # Appends whose caller gave up (deadline, disconnect) are dropped: the caller was told 503.
            batch, self._pending = [(a, f) for a, f in self._pending if not f.done()], []
            if not batch:
                continue
            try:
                results = await self._xadd_many([a for a, _ in batch])
            except (RedisError, OSError) as exc:
                results = [exc] * len(batch)
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller may have gone (client disconnected, deadline passed)
                    continue
                if isinstance(result, Appended):
                    future.set_result(result)
                else:
                    error = StoreUnavailable("event store unavailable")
                    error.__cause__ = result
                    future.set_exception(error)

    async def _xadd_many(self, appends: Sequence[Append]) -> list[Appended | Exception]:
        """One pipeline; each append's own result, or the error Redis gave that one (OOM, say): a refused
        append must not turn its neighbours, which Redis stored, into 503s that providers would send again."""
        known = await self._drained_markers(appends)
        self.round_trips += 1
        async with self._redis.pipeline(transaction=False) as pipe:
            for a, first in zip(appends, known, strict=True):
                if self._counts(a.stream):
                    await self._queue_counted(pipe, a, first or "")
                elif a.once is None:
                    # approximate=True lets Redis trim whole macro-nodes: exact MAXLEN costs a lot per XADD.
                    pipe.xadd(a.stream, _wire(a.fields), maxlen=self._maxlen, approximate=True)
                else:
                    flat = [item for pair in a.fields.items() for item in pair]
                    before = [a.once.before] if a.once.before else []
                    await scripts.queue(
                        self._append_once,
                        pipe,
                        keys=[a.stream, a.once.key, a.once.counter, *before],
                        args=[a.once.ttl_s, self._maxlen, a.once.label, first or "", *flat],
                    )
            replies = await scripts.execute(pipe, raise_on_error=False)
        return [
            reply if isinstance(reply, Exception) else _appended(a.stream, reply, a.once, first)
            for a, first, reply in zip(appends, known, replies, strict=True)
        ]

    async def _drained_markers(self, appends: Sequence[Append]) -> list[str | None]:
        """For each append, the entry id its delivery's marker holds in a drained shard (``Once.drained``), or None;
        a round trip only while shards are drained and a delivery id is checked."""
        drained = [a.once.drained if a.once is not None else None for a in appends]
        wanted = [d for d in drained if d is not None]
        if not wanted:
            return [None] * len(appends)
        async with self._redis.pipeline(transaction=False) as pipe:  # markers of several shards: several slots
            for marker, _ in wanted:
                pipe.get(marker)
            found = iter(await pipe.execute())
        return [decoded(value) if d is not None and (value := next(found)) is not None else None for d in drained]

    def _counts(self, stream: str) -> bool:
        return self._counted is not None and stream in self._counted.streams

    async def _queue_counted(self, pipe: Any, a: Append, drained: str = "") -> None:
        # One script in place of the XADD (or of the append-once script): the count costs no extra command.
        if self._counted is None:
            raise TypeError("this store counts nothing")
        project = a.fields.get("project", b"")
        project = project.decode() if isinstance(project, bytes) else str(project)
        keys = [a.stream, self._counted.streams[a.stream]]
        args: list[Any] = [self._maxlen, self._counted.ttl_s, project, 0, "", ""]
        if a.once is not None:
            keys += [a.once.key, a.once.counter, *([a.once.before] if a.once.before else [])]
            args[3:6] = [a.once.ttl_s, a.once.label, drained]
        flat = [item for pair in a.fields.items() for item in pair]
        await scripts.queue(self._append_counted, pipe, keys=keys, args=[*args, *flat])

    # -- consuming ---------------------------------------------------------------------------

    async def ensure_group(self, stream: str, *, start: str = "0") -> None:
        """Create the group unless it exists. ``start`` "0": from the stream's first entry, so nothing stored
        before the first worker started is skipped; "$": only entries added from now on (the observer)."""
        try:
            await self._redis.xgroup_create(stream, self._group, id=start, mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise

    async def leave_group(self, stream: str) -> None:
        """Remove this consumer (its pending entries with it), and the group once no consumer is left in it."""
        await self._redis.xgroup_delconsumer(stream, self._group, self._consumer)
        if not await self._redis.xinfo_consumers(stream, self._group):
            await self._redis.xgroup_destroy(stream, self._group)

    async def read_new(self, stream: str, *, count: int, block_ms: int) -> list[StoredEvent]:
        # block_ms 0 means "don't wait" here; BLOCK 0 would mean "wait forever" to Redis.
        reply = await self._redis.xreadgroup(
            self._group, self._consumer, {stream: ">"}, count=count, block=block_ms if block_ms > 0 else None
        )
        if not reply:
            return []
        [[_, entries]] = cast(list[Any], reply)  # RESP2 shape: [[stream, [(id, fields), ...]]]
        return _events(stream, entries)

    async def claim_ids(self, stream: str, ids: Sequence[str]) -> list[StoredEvent]:
        """Take these entries over for this consumer, now (XCLAIM, no idle minimum); those no longer pending
        (acknowledged, deleted) are left out. Counts as another delivery of each (XPENDING's counter)."""
        ids = _in_all(stream, ids)
        if not ids:
            return []
        reply = await self._redis.xclaim(stream, self._group, self._consumer, 0, list(ids))
        return _events(stream, reply or [])

    async def own_pending(self, stream: str, *, min_idle_ms: int, count: int) -> list[str]:
        """Ids pending under this consumer's name for at least ``min_idle_ms`` (XPENDING IDLE, Redis 6.2+)."""
        rows = await self._redis.xpending_range(
            stream, self._group, min="-", max="+", count=count, consumername=self._consumer, idle=min_idle_ms
        )
        return [_out(stream, decoded(r["message_id"])) for r in rows]

    async def claim_stale(self, stream: str, *, min_idle_ms: int, count: int = 100) -> list[StoredEvent]:
        # "0-0": scan the whole pending list each time; it is short unless workers are dying.
        reply = await self._redis.xautoclaim(stream, self._group, self._consumer, min_idle_ms, "0-0", count=count)
        return _events(stream, reply[1])

    async def times_delivered(self, stream: str, ids: Sequence[str]) -> dict[str, int]:
        """How often each pending entry has been handed to a consumer (XPENDING's delivery counter)."""
        ids = _in_all(stream, ids)
        if not ids:
            return {}
        rows = await self._redis.xpending_range(
            stream, self._group, min=min(ids, key=_id_key), max=max(ids, key=_id_key), count=len(ids) * 2 + 100
        )
        wanted = set(ids)
        return {
            _out(stream, decoded(r["message_id"])): int(r["times_delivered"])
            for r in rows
            if decoded(r["message_id"]) in wanted
        }

    async def ack(self, stream: str, ids: Sequence[str]) -> None:
        ids = _in_all(stream, ids)
        if ids:
            await self._redis.xack(stream, self._group, *ids)

    async def write(
        self,
        writes: Sequence[Append],
        outcomes: Mapping[str, str],
        outcomes_key: str,
        *,
        stream_registry: str = "",
        routed: Mapping[str, str] | None = None,
        also: Callable[[Any], Awaitable[None]] | None = None,
    ) -> None:
        """Write trigger jobs and routing outcomes in one round trip; raises if any write failed.

        Not a MULTI: the jobs go to other streams (other hash slots on a cluster). The caller acks the
        source entries only after this returns, so a crash part-way leaves them pending to be routed
        again: at-least-once, with a deterministic ``job_id`` in every job for consumers to deduplicate.
        ``stream_registry``: a set every stream written is added to, so trimming finds them all without a
        SCAN, also those of workflows removed since. ``routed``: event id → project of the events whose routing
        made jobs, counted (with ``Counted``) as the outcome is first written; copies appended to the counted
        stream (a replay's) are counted as stored. ``also``: queues the caller's own commands (the history
        indexes of the batch) into the same pipeline, after these.
        """
        if not writes and not outcomes and also is None:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            await self._queue_appends(pipe, writes)
            if outcomes and self._counted is not None and outcomes_key in self._counted.outcomes:
                made = routed or {}
                args: list[Any] = [self._counted.ttl_s]
                for event_id, outcome in outcomes.items():
                    args += [event_id, outcome, "1" if event_id in made else "0", made.get(event_id, "")]
                keys = [outcomes_key, self._counted.outcomes[outcomes_key]]
                await scripts.queue(self._outcomes_counted, pipe, keys=keys, args=args)
            elif outcomes:
                pipe.hset(outcomes_key, mapping=_wire(outcomes))
            if stream_registry and writes:
                pipe.sadd(stream_registry, *sorted({w.stream for w in writes}))
            if also is not None:
                await also(pipe)
            await scripts.execute(pipe)

    async def _queue_appends(self, pipe: Any, writes: Sequence[Append]) -> None:
        # Consecutive entries of a stream with the same field names make a run, appended by one script call
        # (``_XADD_RUN``); a run is queued before anything after it in its stream, so each stream keeps the order of
        # ``writes``. Runs are bounded by their bodies' bytes (Lua holds a script's arguments twice while it runs);
        # an entry over the bound alone is a plain XADD.
        runs: dict[str, _Run] = {}
        for w in writes:
            if w.once is not None and self._counts(w.stream):  # a check-and-append: its own script, as before
                if w.stream in runs:  # what came before it in its stream goes first
                    await self._queue_run(pipe, w.stream, runs.pop(w.stream))
                await self._queue_counted(pipe, w)
                continue
            names = tuple(w.fields)
            body = w.fields.get("body", b"")
            size = len(body) if isinstance(body, bytes | str) else 0
            run = runs.get(w.stream)
            if run is not None and (run.names != names or run.size + size > _RUN_BYTES):
                await self._queue_run(pipe, w.stream, runs.pop(w.stream))
                run = None
            if size > _RUN_BYTES or not names:  # (no fields: Redis refuses the XADD, as it always did)
                if self._counts(w.stream):
                    await self._queue_counted(pipe, w)
                else:
                    pipe.xadd(w.stream, _wire(w.fields), maxlen=self._maxlen, approximate=True)
                continue
            if run is None:
                run = runs[w.stream] = _Run(names)
            run.values += w.fields.values()
            run.size += size
        for stream, run in runs.items():
            await self._queue_run(pipe, stream, run)

    async def _queue_run(self, pipe: Any, stream: str, run: _Run) -> None:
        if self._counted is not None and stream in self._counted.streams:
            keys = [stream, self._counted.streams[stream]]
            args = [self._maxlen, self._counted.ttl_s, len(run.names), *run.names, *run.values]
            await scripts.queue(self._xadd_run_counted, pipe, keys=keys, args=args)
            return
        args = [self._maxlen, len(run.names), *run.names, *run.values]
        await scripts.queue(self._xadd_run, pipe, keys=[stream], args=args)

    async def registered_streams(self, stream_registry: str) -> set[str]:
        """Every stream ``write`` added to ``stream_registry``."""
        return {decoded(s) for s in await self._redis.smembers(stream_registry)}

    async def repeat_counts(self, counter: str) -> dict[str, int]:
        """The repeats ``Once`` counted in hash ``counter``: label → how many were answered without storing."""
        return {decoded(k): int(v) for k, v in (await self._redis.hgetall(counter)).items()}

    async def settle_many(self, stream: str, settled: Sequence[tuple[str, Settle]]) -> None:
        """Record what became of work entries of ``stream`` and ack them, atomically: one MULTI (all keys share a
        hash tag), or one script when every job finished, a worker's whole batch in one round trip.

        A retry goes to the scheduled set (its id) and the job's hash (its fields: see ``Settle``), a give-up
        to the dead-letter stream, a finished job's history to a hash kept ``history_ttl_s``; then XACK. A
        crash before EXEC (or the script) leaves the entries pending, to be reclaimed: nothing is lost, nothing
        half-done.
        """
        if not settled:
            return
        if all(_finished(outcome) for _, outcome in settled):
            await self._settle_finished_many(stream, settled)
            return
        await self._settle_multi(stream, settled)

    async def _settle_multi(self, stream: str, settled: Sequence[tuple[str, Settle]]) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            for _, outcome in settled:
                self._queue_settle(pipe, outcome)
            pipe.xack(stream, self._group, *(entry_id for entry_id, _ in settled))
            await pipe.execute()

    async def _settle_finished_many(self, stream: str, settled: Sequence[tuple[str, Settle]]) -> None:
        # The common batch, every job delivered: one script (``_SETTLE_FINISHED``), as atomic as the MULTI.
        keys: list[str] = [stream]
        args: list[Any] = [self._group, len(settled)]
        for _, outcome in settled:
            keys += (outcome.job_key, outcome.history_key)
            flags = ""
            if outcome.scheduled:
                keys.append(outcome.scheduled)
                flags += "s"
            if outcome.release_order:
                keys.append(outcome.release_order)
                flags += "o"
            history = outcome.history or {}
            args += (outcome.job_id, flags, outcome.history_ttl_s, 2 * len(history))
            for pair in history.items():
                args += pair
        args += (entry_id for entry_id, _ in settled)
        async with self._redis.pipeline(transaction=False) as pipe:
            await scripts.queue(self._settle_finished, pipe, keys=keys, args=args)
            await scripts.execute(pipe)

    def _queue_settle(self, pipe: Pipeline, outcome: Settle) -> None:
        if outcome.retry_at is not None and outcome.job_key:
            pipe.hset(outcome.job_key, mapping=_wire(outcome.fields))
            if outcome.job_ttl_s > 0:
                pipe.expire(outcome.job_key, outcome.job_ttl_s)
            pipe.zadd(outcome.scheduled, {outcome.job_id: outcome.retry_at})
        elif outcome.job_key:
            pipe.execute_command("DEL", outcome.job_key)  # queued as is on a cluster too
            if outcome.scheduled:
                pipe.zrem(outcome.scheduled, outcome.job_id)
        if outcome.dead_stream:
            pipe.xadd(outcome.dead_stream, _wire(outcome.fields), maxlen=self._maxlen, approximate=True)
        if outcome.release_order:
            pipe.zrem(outcome.release_order, outcome.job_id)
        if outcome.history_key and outcome.history:
            pipe.hset(outcome.history_key, mapping=_wire(outcome.history))
            pipe.expire(outcome.history_key, outcome.history_ttl_s)

    async def redrive(self, dead_stream: str, stream: str, entries: Sequence[StoredEvent]) -> None:
        """Put dead letters back on the work stream (with the fields given) and drop them from the dead stream."""
        if not entries:
            return
        async with self._redis.pipeline(transaction=True) as pipe:
            for entry in entries:
                pipe.xadd(stream, _wire(entry.fields), maxlen=self._maxlen, approximate=True)
            pipe.xdel(dead_stream, *_in_all(dead_stream, [e.id for e in entries]))
            await pipe.execute()

    async def scan(self, stream: str, *, after: str = "-", count: int = 100) -> list[StoredEvent]:
        """Entries in id order from ``after`` (exclusive when it is an id), for listings and bulk operations."""
        if after != "-":
            after = _in(stream, after) or after
        if after == "-":
            start = "-"
        elif _id_key(after) == _LAST:  # nothing follows it, and Redis refuses an exclusive start there
            return []
        else:
            start = f"({after}"
        return _events(stream, await self._redis.xrange(stream, min=start, count=count) or [])

    async def scan_shards(self, streams: Sequence[str], *, after: str = "-", count: int = 100) -> list[StoredEvent]:
        """``scan`` over the streams of every shard of one family, merged in id order (ms, seq, shard)."""
        start = "-" if after == "-" else _id_key(after)
        found: list[StoredEvent] = []
        for stream in streams:
            if isinstance(start, StreamId):
                reply = await self._redis.xrange(stream, min=start.entry, count=count + 1)  # its own entry: ≤ 1 more
                found += [e for e in _events(stream, reply or []) if _id_key(e.id) > start]
            else:
                found += _events(stream, await self._redis.xrange(stream, min="-", count=count) or [])
        return sorted(found, key=lambda e: _id_key(e.id))[:count]

    async def requeue_due(self, scheduled: str, stream: str, job_key_prefix: str, now: float, count: int) -> Requeued:
        """Move up to ``count`` retries that came due back onto the work stream, as references to their hash;
        any worker may run it. Also says when the next one comes due.

        One script per call, so two workers moving at once cannot both re-add a job.
        """
        moved, first = await self._requeue(keys=[scheduled, stream], args=[now, count, job_key_prefix, self._maxlen])
        return Requeued(int(moved), float(first) if first else None)

    async def job_hashes(self, keys: Sequence[str]) -> list[dict[str, bytes]]:
        """The fields of these job hashes, in order (empty for a hash that is gone); one round trip."""
        if not keys:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            replies = await pipe.execute()
        return [{decoded(k): v for k, v in reply.items()} for reply in replies]

    async def trim_acked(self, streams: Sequence[str]) -> int:
        """Drop the entries of each stream that every one of its consumer groups has acknowledged (see
        ``_TRIM_ACKED``); streams no group reads are left alone. Returns how many entries went."""
        trimmed = 0
        for start in range(0, len(streams), 500):  # a round trip per 500 streams, not one pipeline for them all
            async with self._redis.pipeline(transaction=False) as pipe:
                for stream in streams[start : start + 500]:
                    await scripts.queue(self._trim_acked, pipe, keys=[stream], args=[OBSERVER_GROUP])
                trimmed += sum(int(r) for r in await scripts.execute(pipe))
        return trimmed

    async def dead_letter(self, stream: str, dead_stream: str, event: StoredEvent, reason: str) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(
                dead_stream,
                _wire({**event.fields, "dead_reason": reason, "source_id": event.id}),
                maxlen=self._maxlen,
                approximate=True,
            )
            pipe.xack(stream, self._group, _in(stream, event.id) or event.id)
            await pipe.execute()

    # -- reading back ------------------------------------------------------------------------

    async def get(self, stream: str, entry_id: str) -> StoredEvent | None:
        """The entry ``entry_id``; None when it is not stored, or when ``entry_id`` (often a request's parameter) is
        no stream id, which Redis would refuse."""
        entry = _in(stream, entry_id)
        if entry is None or not StreamId.is_valid(entry):
            return None
        entry_id = entry
        entries = await self._redis.xrange(stream, min=entry_id, max=entry_id, count=1)
        found = _events(stream, entries or [])
        return found[0] if found else None

    async def latest(self, stream: str, count: int, *, before: str | None = None) -> list[StoredEvent]:
        """Newest first; ``before`` (an id, exclusive) pages back from an entry."""
        if before is not None:
            before = _in(stream, before) or before
        if before is not None and _id_key(before) == _FIRST:  # nothing precedes it, and Redis refuses "(0-0"
            return []
        newest = "+" if before is None else f"({before}"
        return _events(stream, await self._redis.xrevrange(stream, max=newest, count=count) or [])

    async def length(self, stream: str) -> int:
        return int(await self._redis.xlen(stream))

    async def trim_before(self, stream: str, min_id: str, *, approximate: bool = True) -> int:
        """Drop entries older than ``min_id`` (retention).

        Approximate by default: Redis then frees whole macro-nodes only, which is far cheaper and keeps
        at most a node's worth (about 100 entries) past the cut until the next run.
        """
        return int(await self._redis.xtrim(stream, minid=min_id, approximate=approximate))

    async def trim_outcomes(self, key: str, min_id: str) -> int:
        """Drop routing outcomes of events older than ``min_id`` (they are keyed by entry id)."""
        cut = _id_key(min_id)
        removed = 0
        old: list[str] = []
        async for field_name, _ in self._redis.hscan_iter(key, count=1000):
            name = decoded(field_name)
            if _id_key(name) < cut:
                old.append(name)
            if len(old) >= 1000:  # one HDEL per page, not one round trip per field
                removed += int(await self._redis.hdel(key, *old))
                old = []
        if old:
            removed += int(await self._redis.hdel(key, *old))
        return removed

    # -- replay (router/history/replay.py) ----------------------------------------------------------

    async def get_many(self, stream: str, ids: Sequence[str]) -> list[StoredEvent]:
        """The entries with these ids that are still stored, in the order given; one round trip when they lie close
        together, two at most.

        Ids a filter picked out of a busy stream are often next to each other (a date range, one integration): one
        XRANGE over their span, up to ``_SPAN_FACTOR`` entries per id wanted, reads them together at the cost of one
        command, where an XRANGE per id costs a command and a reply each. Those the span read did not reach (a
        sparse selection), and ids not in full ``<ms>-<seq>`` form, are read one by one, pipelined."""
        entries = _in_all(stream, ids)
        if not entries:
            return []
        full = sorted({e for e in entries if _FULL_ID.fullmatch(e)}, key=_entry_order)
        found: dict[str, StoredEvent] = {}
        reached: StreamId | None = None
        if len(full) > 1:
            count = len(full) * _SPAN_FACTOR
            span = _events(stream, await self._redis.xrange(stream, min=full[0], max=full[-1], count=count) or [])
            wanted = {_out(stream, e) for e in full}
            found = {e.id: e for e in span if e.id in wanted}
            reached = _LAST if len(span) < count else _id_key(span[-1].id)
        spanned = set(full) if reached is not None else set()
        rest = [
            e
            for e in dict.fromkeys(entries)
            if _out(stream, e) not in found and (e not in spanned or _id_key(e) > cast(StreamId, reached))
        ]
        if rest:
            async with self._redis.pipeline(transaction=False) as pipe:
                for entry_id in rest:
                    pipe.xrange(stream, min=entry_id, max=entry_id, count=1)
                replies = await pipe.execute()
            for entry_id, reply in zip(rest, replies, strict=True):
                for event in _events(stream, reply or []):
                    found[_out(stream, entry_id)] = event
        return [found[_out(stream, e)] for e in entries if _out(stream, e) in found]

    async def get_events(self, keys: Keys, ids: Sequence[str]) -> list[StoredEvent]:
        """The stored events with these event ids, whatever their shards, in the order given (those still stored)."""
        shards: dict[int, list[str]] = {}
        for wanted_id in ids:
            shards.setdefault(keys.of_id(wanted_id).index, []).append(wanted_id)
        found: dict[str, StoredEvent] = {}
        for index, wanted in shards.items():
            found.update((e.id, e) for e in await self.get_many(keys.shard(index).ingest, wanted))
        return [found[i] for i in ids if i in found]

    async def copy_for_replay(
        self,
        stream: str,
        event_ids: Sequence[str],
        request_id: str,
        *,
        skip_copies: bool,
    ) -> list[str]:
        """Append a copy of each event to ``stream``, the stream they are stored in, marked for replay request
        ``request_id``, in one script call (``_REPLAY_COPIES``), each original checked as ``IngestEvent.from_fields``
        checks it. Returns a status per id, in order: "c" copied, "n" not stored, "r" an earlier copy
        (``skip_copies``), "m:<field>" malformed, "p" left to the caller (an id not in full ``<ms>-<seq>`` form of this
        stream, or an entry whose copy needs its layout rewritten)."""
        shard = _shard(stream)
        joined = " ".join(event_ids)
        if not shard and joined.count(" ") == len(event_ids) - 1 and _FULL_IDS.fullmatch(joined):
            # Shard 0's ids are its entry ids: all sent as they are.
            sent: list[bool] | None = None
        else:
            entries = [_in(stream, i) for i in event_ids]
            sent = [e is not None and _FULL_ID.fullmatch(e) is not None for e in entries]
            joined = " ".join(e for e, ok in zip(entries, sent, strict=True) if ok and e)
        keys = [stream]
        ttl: int | str = ""
        if self._counted is not None and stream in self._counted.streams:
            keys.append(self._counted.streams[stream])
            ttl = self._counted.ttl_s
        args = [self._maxlen, ttl, request_id, "1" if skip_copies else "0", INGEST_FIELD_NAMES, INGEST_META_NAMES]
        args += [f"-{shard}" if shard else "", joined]
        async with self._redis.pipeline(transaction=False) as pipe:
            await scripts.queue(self._replay_copies, pipe, keys=keys, args=args)
            [(codes, fields)] = await scripts.execute(pipe)
        malformed = iter(decoded(f) for f in fields)
        statuses = iter(f"m:{next(malformed)}" if code == "m" else code for code in decoded(codes))
        if sent is None:
            return list(statuses)
        return [next(statuses) if ok else "p" for ok in sent]

    async def get_event(self, keys: Keys, event_id: str) -> StoredEvent | None:
        """The stored event ``event_id`` (in its shard's stream); None when it is not stored or no event id."""
        return await self.get(keys.of_id(event_id).ingest, event_id)

    async def backlog(self, stream: str, group: str) -> int:
        """Entries of ``stream`` the group has not finished: not yet read (lag) plus read but not acked (pending).

        0 when the stream or the group does not exist: nobody consumes it, so there is no live traffic to starve.
        """
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:  # no such key
            return 0
        for info in cast(list[dict[Any, Any]], groups):
            if decoded(info.get("name", "")) == group:
                pending = int(info.get("pending") or 0)
                if "lag" not in info:  # Redis < 7 reports no lag: count what lies past the group's position
                    after = decoded(info.get("last-delivered-id", "0-0"))
                    unread = await self._redis.xrange(stream, min=f"({after}", count=_BACKLOG_COUNT_CAP)
                    return pending + len(unread or [])
                # lag is nil when Redis cannot tell (entries deleted past the group's position): count pending only.
                lag = info.get("lag")
                return pending + (int(lag) if lag is not None else 0)
        return 0

    async def pending(self, stream: str, group: str) -> int:
        """Entries of ``stream`` the group has read and not acknowledged; 0 without the stream or the group."""
        try:
            summary = await self._redis.xpending(stream, group)
        except ResponseError:  # no such key or group
            return 0
        return int(summary.get("pending") or 0)

    # -- event history (router/history/indexes.py) --------------------------------------------------

    async def delete(self, stream: str, ids: Sequence[str]) -> int:
        """XDEL these entries (per-project retention shorter than the stream's); returns how many existed."""
        ids = _in_all(stream, ids)
        return int(await self._redis.xdel(stream, *ids)) if ids else 0

    async def unrouted(self, stream: str, group: str, *, count: int) -> list[StoredEvent]:
        """Up to ``count`` entries the group has not finished: read but not acked, then never read; by id.

        Without the group (no worker ever ran) every entry is unread.
        """
        last = "0-0"
        try:
            groups = await self._redis.xinfo_groups(stream)
        except ResponseError:  # no such key
            return []
        pending: list[str] = []
        for info in cast(list[dict[Any, Any]], groups):
            if decoded(info.get("name", "")) == group:
                last = decoded(info.get("last-delivered-id", "0-0"))
                rows = await self._redis.xpending_range(stream, group, min="-", max="+", count=count)
                pending = [_out(stream, decoded(r["message_id"])) for r in rows]
        events = await self.get_many(stream, pending) if pending else []
        # "(" makes the start exclusive: the group's last-delivered entry is already pending or done.
        unread = await self._redis.xrange(stream, min=f"({last}" if last != "0-0" else "-", count=count)
        return (events + _events(stream, unread or []))[:count]


_BACKLOG_COUNT_CAP = 10_000  # enough to tell "busy" from "idle"; counting further would only cost time


_FIRST, _LAST = StreamId(0, 0), StreamId(U64, U64)
_FULL_ID = re.compile(r"[0-9]+-[0-9]+")
_FULL_IDS = re.compile(r"[0-9]+-[0-9]+(?: [0-9]+-[0-9]+)*")
_SPAN_FACTOR = 2  # entries a span read may return per id wanted, before the rest are read one by one


def _id_key(entry_id: str) -> StreamId:
    return StreamId.parse(entry_id, partial=True, event=True)


def _entry_order(entry_id: str) -> tuple[int, int]:
    # The order of a full ``<ms>-<seq>`` entry id, as ``_id_key`` gives it, without the parser (a replay batch sorts
    # hundreds of them).
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)
