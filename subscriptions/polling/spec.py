"""Polled triggers as data: the requests that read a provider's new and changed records, and how to read them.

A ``PollSpec`` is request templates (``subscriptions.providers.spec``: ``{{namespace.name}}`` placeholders, never
evaluated) plus where the records, their ids, versions and the cursor are in the provider's answers. The poller
(``router/polling/``) runs them; nothing here does I/O. Placeholders, besides the lifecycle's ``credential.*``,
``integration.*`` and ``trigger.*``:

- ``api.base``: the provider API's base URL: the integration's ``options.api_base_url``, else the credential value
  named by ``base_url_value`` (Salesforce's ``instance_url``), else the spec's ``base_url``;
- ``poll.cursor``: where the last poll stopped (a time, a sync token, a row count);
- ``poll.page``: the next page's token, on page requests;
- ``poll.since_minutes``: a time cursor as whole minutes before now, one more for the minute it falls in (JQL's
  relative ``-<n>m``, which no user time zone shifts);
- ``poll.after_id``: a time cursor's tie-break, the id of the last record read at the cursor's time ('' at first;
  only ids of letters, digits, ``_`` and ``-`` are kept, so it can be written into a query's string literal);
- ``poll.now``: the current time, ``YYYY-MM-DDThh:mm:ssZ`` (where a token cursor starts: Marketo's paging token).

``cursor_format`` ``iso_z`` writes a time cursor as ``YYYY-MM-DDThh:mm:ssZ`` (SOQL's dateTime literal), whatever
form the provider's records give it in; ``raw`` writes it as the records gave it; ``epoch_ms`` reads the records'
times as Unix milliseconds (Lever's ``updatedAt``) and writes the cursor as milliseconds; ``ms_date`` reads the
records' times in the form ``/Date(1573755038314+0000)/`` (Xero's; anything else is no time) and writes the cursor
as ``YYYY-MM-DDThh:mm:ss`` in UTC, the second it falls in.

Cursor kinds:

- ``time``: the cursor is the newest ``cursor_path`` value seen (``LastModifiedDate``). The first poll starts it
  at the current time and stores nothing. A poll asks for records at or after it (``>=``: two records changed in
  one second are both seen), skips older ones the provider could not filter out, and asks again while a page is
  full (``page_size``), or, with ``next_page_path``, pages on while every record of a page was new (a provider
  that cannot filter by time, listing newest first), or while there is a next page (``newest_first`` false: a
  provider that filters with an overlap, oldest first); a record seen twice has the same delivery id, so it is
  stored once. ``children``: the records are lists inside each record the request lists (an issue's comments);
  the cursor follows the listed records, and each child at or after it is an event, stored as ``{<as_>: child,
  <parent_as>: the listed record without its children}``.
  A page full of records sharing one second: with ``tie_break`` (the provider sorts by time, then id, and can ask
  for ``time > cursor OR (time = cursor AND id > after)``), the cursor is the last record's (time, id) and
  ``poll.after_id`` its id, so the poll goes on past them; with ``first_page``, the next page of the same query
  follows a full one (``poll.page``: ``first_page``, then ``page_step`` more each page: page numbers or
  offsets); with ``next_page_path``, the page the answer names. Those read any number of records of one second
  (up to ``max_pages`` a poll; the next asks again from the newest time read). Without any, such a page ends the
  poll and the next asks the same second again, never past it.
- ``token``: the provider hands out a sync token (Google Calendar's ``nextSyncToken``, Drive's
  ``newStartPageToken``). The first poll runs ``init`` (paging with ``init_page``) and keeps the token it ends
  with (at ``init_cursor_path``), firing nothing; later polls run ``request`` and ``page`` while
  ``next_page_path`` answers, and keep the token ``cursor_path`` names on the last page. An answer in
  ``reset_statuses`` (Calendar's 410 Gone) drops the token: the next poll starts over, again without firing on
  history.
- ``rows``: the records are the rows of a table (a sheet's ``values``); the cursor is how many there were, and
  each row past it is new. Its id is its row number.

A token cursor with ``more_path`` pages on (its polls, and a first poll's ``init_page``) only while that member
is JSON true, for providers whose next page token is on every page, the last one included (Marketo's
``moreResult`` beside ``nextPageToken``, Dropbox's ``has_more`` beside ``cursor``). With ``window`` (seconds before
and after now), the first request may name ``poll.window_start`` and ``poll.window_end``
(``YYYY-MM-DDThh:mm:ssZ``): a delta over a time range (Graph's calendarView), whose links keep the range they were
opened with; with ``reopen_after_s``, a token older than that is replaced, once the poll has read what changed, by
a new round over a range from now (paged through without firing, as a first poll is). ``id_path`` may name a
parameter (``{{trigger.idField}}``: a table's key column).

``events``: the first rule a record meets names its event type (``subscriptions/polled_catalog.py``); a record
meeting none is skipped. A record's delivery id is ``<spec key>:<id>:<version>``: polled again, it is the same
event; changed again, it is a new one. ``once_per_record`` (a provider whose records carry no creation time):
the version is ``first`` and the record fires once, the first time a poll reads it, within ``dedup_ttl_s``.

``error_path``: a provider that answers errors with 200 (Marketo: ``errors.0.code``): a code there fails the poll,
retryable when in ``retryable_errors`` (a rate limit), as a 401 when in ``unauthorized_errors`` (an expired token).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from subscriptions.providers.spec import RequestTemplate, parse_expiry, read_path


class EventRule(BaseModel):
    """A record is of ``event_type`` when every condition given holds.

    ``path`` ``equals`` a value (``status`` = ``cancelled``); ``true``: ``path`` is JSON true; ``exists``: ``path`` is
    there, whatever its value (Graph's ``deleted`` facet, an object); ``same_time_as``: the time at ``path`` is within
    ``within_s`` of the one at ``same_time_as`` (created = last modified: a new record); ``since_last_poll``: the time
    at ``path`` is after where the previous polls of the pair left off, in the provider's clock (a time cursor's
    value, or the newest ``version_path`` time a token cursor's polls have read; before any, when the previous poll
    began): no record read before was created that late, so this poll is the first to find it (for providers whose
    records change moments after they are created: created-equals-modified would miss them); ``first_seen``: the
    pair has never read the record's id (``PollSpec.seen_ids``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: str
    path: str | None = None
    equals: str | None = None
    true: bool = False
    exists: bool = False
    since_last_poll: bool = False
    first_seen: bool = False
    same_time_as: str | None = None
    within_s: float = Field(default=1.0, ge=0)

    def holds(self, record: Any, last_poll: float = 0.0, *, new: bool = False) -> bool:
        if self.first_seen and not new:
            return False
        if self.path is None:
            return True
        if self.true:
            return _raw(record, self.path) is True
        if self.exists:
            return _raw(record, self.path) is not None
        value = read_path(record, {}, self.path)
        if self.since_last_poll:
            t = parse_expiry(value) if value else None
            return t is not None and t > last_poll
        if self.equals is not None and value != self.equals:
            return False
        if self.same_time_as is not None:
            other = read_path(record, {}, self.same_time_as)
            a, b = parse_expiry(value or ""), parse_expiry(other or "")
            return a is not None and b is not None and abs(a - b) <= self.within_s
        return value is not None


def _raw(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


class Children(BaseModel):
    """Records nested in the listed ones: ``path`` in each listed record (``fields.comment.comments``), each child's
    time at ``time_path``; an event's body is ``{as_: child, parent_as: the listed record}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    time_path: str
    as_: str
    parent_as: str


class PollSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    cursor: Literal["time", "token", "rows"]
    cursor_format: Literal["raw", "iso_z", "epoch_ms", "ms_date"] = "raw"  # how a time cursor is written into requests
    request: RequestTemplate
    page: RequestTemplate | None = None
    init: RequestTemplate | None = None
    init_page: RequestTemplate | None = None
    records_path: str
    id_path: str = "id"
    version_path: str | None = None
    cursor_path: str | None = None
    init_cursor_path: str | None = None
    next_page_path: str | None = None
    newest_first: bool = True  # with next_page_path: pages stop at the first record older than the cursor
    tie_break: bool = False  # a time cursor: the request asks past (cursor, poll.after_id), in (time, id) order
    tie_break_floor: str = ""  # ``poll.after_id`` before any record was read at the cursor's time
    page_size: int = Field(default=100, ge=1)
    max_pages: int = Field(default=10, ge=1, le=1000)
    reset_statuses: tuple[int, ...] = ()
    events: tuple[EventRule, ...] = Field(min_length=1)
    base_url: str
    base_url_value: str | None = None
    params: dict[str, str] = Field(default_factory=dict)
    first_page: int | None = None  # a time cursor: numbered pages, this one first (the request's own)
    page_step: int = Field(default=1, ge=1)  # 1: page numbers; the page size: offsets
    more_path: str | None = None  # a token cursor pages on only while this is JSON true (moreResult, has_more)
    children: Children | None = None
    once_per_record: bool = False
    dedup_ttl_s: int | None = Field(default=None, ge=1)  # longer than the poller's window, for once_per_record
    error_path: str | None = None
    retryable_errors: tuple[str, ...] = ()
    unauthorized_errors: tuple[str, ...] = ()
    window: tuple[float, float] | None = None  # seconds before and after now: poll.window_start, poll.window_end
    reopen_after_s: float | None = Field(default=None, gt=0)  # a token cursor older than this opens a new round
    seen_ids: bool = False  # the pair keeps the ids it reads: rules may be ``first_seen``
    forget_types: tuple[str, ...] = ()  # with seen_ids: records of these event types drop their ids

    def event_type(self, record: Any, last_poll: float = 0.0, *, new: bool = False) -> str | None:
        """The first rule's event type; ``last_poll``: where the previous poll of the pair left off (Unix seconds);
        ``new``: the pair has not read the record's id before."""
        return next((rule.event_type for rule in self.events if rule.holds(record, last_poll, new=new)), None)


def records_of(data: Any, path: str) -> list[Any]:
    """The list at a dotted path of an answer (a number picks a list's item); [] when there is none."""
    for part in path.split("."):
        if isinstance(data, list) and part.isascii() and part.isdigit():
            data = data[int(part)] if int(part) < len(data) else None
        else:
            data = data.get(part) if isinstance(data, dict) else None
    return data if isinstance(data, list) else []


def time_of(value: str | None) -> float | None:
    return parse_expiry(value) if value else None


_MS_DATE = re.compile(r"/Date\((-?\d{1,15})([+-])(\d{2})(\d{2})\)/|/Date\((-?\d{1,15})\)/", re.ASCII)


_MS_DATE_RANGE = (-62_135_596_800_000, 253_402_300_799_999)  # 0001-01-01 to 9999-12-31, what a calendar holds


def ms_date(value: str | None) -> float | None:
    """Unix seconds of a ``/Date(<ms>[+-hhmm])/`` time (Xero's, of the .NET JSON serialiser); None for any other
    text. The milliseconds count from the epoch in UTC whatever the offset says (it names the zone the time was
    entered in), so the offset is checked, not applied."""
    match = _MS_DATE.fullmatch(value or "")
    if match is None:
        return None
    if match[1] is not None and (int(match[3]) > 23 or int(match[4]) > 59):
        return None
    ms = int(match[1] if match[1] is not None else match[5])
    return ms / 1000 if _MS_DATE_RANGE[0] <= ms <= _MS_DATE_RANGE[1] else None
