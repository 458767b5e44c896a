"""StreamId: a Redis stream entry id (``<ms>-<seq>``), parsed once, ordered as Redis orders them."""

from __future__ import annotations

import re
from dataclasses import dataclass

from router.errors import RouterError

# Redis writes both parts as unsigned 64-bit decimals; ASCII only, so no "١٢" or "+1" slips through int().
_ID = re.compile(r"([0-9]{1,20})(?:-([0-9]{1,20}))?", re.ASCII)
U64 = 2**64 - 1


class InvalidStreamId(RouterError, ValueError):
    """Not a stream id Redis would accept. A ValueError, so callers that caught int()'s error still do."""

    reason = "invalid_stream_id"


@dataclass(frozen=True, slots=True, order=True)
class StreamId:
    """Ordered as Redis orders entries: by ``ms``, then ``seq``."""

    ms: int
    seq: int = 0

    @classmethod
    def parse(cls, text: str, *, partial: bool = False) -> StreamId:
        """``<ms>-<seq>``; with ``partial``, a bare ``<ms>`` too (seq 0), as Redis takes in XRANGE and MINID.

        Raises InvalidStreamId for anything else, or a part over 2**64 - 1.
        """
        match = _ID.fullmatch(text)
        if match is None or (match.group(2) is None and not partial):
            raise InvalidStreamId(f"not a stream id: {text[:60]!r}")
        ms, seq = int(match.group(1)), int(match.group(2) or 0)
        if ms > U64 or seq > U64:
            raise InvalidStreamId(f"stream id out of range: {text[:60]!r}")
        return cls(ms, seq)

    @classmethod
    def of_job(cls, job_id: str) -> StreamId:
        """The id of the event a job id starts with (``<event id>:<workflow>:...``)."""
        return cls.parse(job_id.split(":", 1)[0], partial=True)

    @staticmethod
    def is_valid(text: str) -> bool:
        """Whether ``text`` is a complete stream id Redis would accept."""
        try:
            StreamId.parse(text)
        except InvalidStreamId:
            return False
        return True

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
        return f"{self.ms}-{self.seq}"
