"""StreamId: a Redis stream entry id (``<ms>-<seq>``), parsed once, ordered as Redis orders them.

An event id is the stream id of its ingest entry, qualified with its shard when that is not shard 0:
``<ms>-<seq>-<shard>`` (``HOOKROUTER_SHARDS``, ``router/storage/keys.py``). URL-safe, unique across shards, and
ordered by (ms, seq, shard); with one shard every event id is a bare stream id, as before shards existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from router.errors import RouterError

# Redis writes both parts as unsigned 64-bit decimals; ASCII only, so no "١٢" or "+1" slips through int().
_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?", re.ASCII)
_EVENT_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20})(?:-([1-9][0-9]{0,3}))?)?", re.ASCII)
U64 = 2**64 - 1


class InvalidStreamId(RouterError, ValueError):
    """Not a stream id Redis would accept. A ValueError, so callers that caught int()'s error still do."""

    reason = "invalid_stream_id"


@dataclass(frozen=True, slots=True, order=True)
class StreamId:
    """Ordered as Redis orders entries: by ``ms``, then ``seq``; event ids of several shards then by ``shard``."""

    ms: int
    seq: int = 0
    shard: int = 0  # the ingest shard of an event id; always 0 for an entry id of a stream

    @classmethod
    def parse(cls, text: str, *, partial: bool = False, event: bool = False) -> StreamId:
        """``<ms>-<seq>``; with ``partial``, a bare ``<ms>`` too (seq 0), as Redis takes in XRANGE and MINID;
        with ``event``, an event id ``<ms>-<seq>-<shard>`` too (shard 1..9999; shard 0 is never written out).

        Raises InvalidStreamId for anything else, or a part over 2**64 - 1.
        """
        match = (_EVENT_ID if event else _ID).fullmatch(text)
        if match is None or (match.group(2) is None and not partial):
            raise InvalidStreamId(f"not a stream id: {text[:60]!r}")
        ms, seq = int(match.group(1)), int(match.group(2) or 0)
        if ms > U64 or seq > U64:
            raise InvalidStreamId(f"stream id out of range: {text[:60]!r}")
        return cls(ms, seq, int(match.group(3) or 0) if event else 0)

    @classmethod
    def of_job(cls, job_id: str) -> StreamId:
        """The id of the event a job id starts with (``<event id>:<workflow>:...``), its shard included."""
        return cls.parse(job_id.split(":", 1)[0], partial=True, event=True)

    @staticmethod
    def is_valid(text: str, *, event: bool = False) -> bool:
        """Whether ``text`` is a complete stream id Redis would accept (``event``: or an event id of a shard)."""
        try:
            StreamId.parse(text, event=event)
        except InvalidStreamId:
            return False
        return True

    @property
    def entry(self) -> str:
        """The stream entry id, without the shard."""
        return f"{self.ms}-{self.seq}"

    @property
    def at_s(self) -> float:
        """When Redis stored the entry (unix seconds): the ms part is its clock at XADD."""
        return self.ms / 1000

    @property
    def score(self) -> int:
        """A sorted-set score that keeps id order while fitting a double exactly: up to 1000 entries a
        millisecond keep their order, later ones in the same millisecond tie."""
        return self.ms * 1000 + min(self.seq, 999)

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}-{self.shard}" if self.shard else f"{self.ms}-{self.seq}"


def event_id(entry_id: str, shard: int) -> str:
    """The event id of entry ``entry_id`` of shard ``shard``'s ingest stream."""
    return f"{entry_id}-{shard}" if shard else entry_id
