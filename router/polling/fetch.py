"""One poll of one (credential, spec) pair: the provider calls a ``PollSpec`` describes, and the records they found.

The state passed in is updated in place (cursor, page token); the caller stores the records first and the state
after, so a worker that dies in between polls the same records again, under the same delivery ids.

Errors (``PollFailed``): a transport error, 408, 429 and 5xx are ``retryable`` (with the answer's Retry-After);
401 is ``Unauthorized`` (the caller may refresh the token and try once more); any other 4xx, a template naming a
value the credential lacks, or an address the egress guard refuses, is not retryable. An answer is read as a stream
and refused past ``MAX_ANSWER_BYTES`` (``answer_too_large``, retryable: the poll backs off and the cursor stays, so
nothing is skipped; a provider that keeps answering that much needs a smaller page size in its spec).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from router.errors import RouterError
from router.polling.state import PollState
from subscriptions.models import check_base_url
from subscriptions.polling import Polled
from subscriptions.polling.spec import PollSpec, ms_date, records_of, time_of
from subscriptions.providers.spec import RequestTemplate, TemplateError, read_path, render, render_text

# The most a provider's answer may hold; Graph, Salesforce and Google pages are well under 1 MiB at their page sizes.
MAX_ANSWER_BYTES = 10 * 1024 * 1024


class PollFailed(RouterError):
    """A poll that did not complete. ``reason`` is low-cardinality (``http_429``, ``transport``, ``template``)."""

    reason = "poll_failed"

    def __init__(self, reason: str, *, status: int = 0, retryable: bool, retry_after_s: float = 0.0) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retryable, self.retry_after_s = reason, status, retryable, retry_after_s


class Unauthorized(PollFailed):
    reason = "http_401"

    def __init__(self) -> None:
        super().__init__("http_401", status=401, retryable=False)


@dataclass(frozen=True, slots=True)
class Found:
    """A record to store. With a spec's ``seen_ids``: ``if_new`` is its event type when the pair has not read
    ``record_id`` before (``event_type`` when it has; either may be '': no event), which the poller decides."""

    event_type: str
    delivery_id: str
    body: bytes
    record_id: str = ""
    if_new: str = ""


def retry_after_s(value: str, now: float) -> float:
    """Retry-After as seconds (delta-seconds or an HTTP date); 0 when absent or unreadable."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
    except (TypeError, ValueError, IndexError, OverflowError):
        return 0.0


def _utc(t: float | None, form: str) -> str | None:
    """A time as UTC text; None when there is none or it is beyond what a calendar holds (a provider's answer
    may claim the year 50000: the poll then asks with the text it was given, and the provider refuses it)."""
    try:
        return None if t is None else datetime.fromtimestamp(int(t), UTC).strftime(form)
    except (ValueError, OverflowError, OSError):
        return None


def _iso_z(value: str) -> str:
    return _utc(time_of(value), "%Y-%m-%dT%H:%M:%SZ") or value


def _z(t: float) -> str:
    return datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _minutes_since(cursor: str, now: float) -> int:
    t = time_of(cursor)
    return 1 if t is None else max(1, math.ceil((now - t) / 60) + 1)


def _origin(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        return parts.scheme, (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", "", None


_KEYSET_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _keyset(record: Any, spec: PollSpec) -> tuple[str, str] | None:
    """A record's (time, id) for a tie-break; None when either is missing or the id is not a plain token (it is
    written into the provider's query: a quote would change the query)."""
    value = read_path(record, {}, spec.cursor_path or "")
    record_id = read_path(record, {}, spec.id_path)
    if value is None or time_of(value) is None or not record_id or not _KEYSET_ID.match(str(record_id)):
        return None
    return value, str(record_id)


def _raw(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _without(data: Any, path: list[str]) -> Any:
    """A copy of ``data`` without the member at ``path`` (the copies made along it only)."""
    if not isinstance(data, dict) or not path or path[0] not in data:
        return data
    if len(path) == 1:
        return {k: v for k, v in data.items() if k != path[0]}
    return {**data, path[0]: _without(data[path[0]], path[1:])}


def start_cursor(now: float) -> str:
    """A time cursor's first value: now, in the form most APIs take (``If-Modified-Since`` included)."""
    return datetime.fromtimestamp(int(now), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass(slots=True)
class _Walk:
    """Where a time-cursor poll is: the newest record time read, the cursor and page it asks with, the tie-break."""

    newest: str
    since: float
    after: str
    newest_t: float = 0.0
    cursor: str = ""
    page: str = ""

    def __post_init__(self) -> None:
        self.newest_t, self.cursor = self.since, self.newest


class Fetch:
    """The calls of one poll. ``http`` is the egress-guarded client for provider APIs."""

    def __init__(
        self, http: httpx.AsyncClient, target: Polled, *, clock: Any = time.time, max_bytes: int = MAX_ANSWER_BYTES
    ) -> None:
        self._http = http
        self._max_bytes = max_bytes
        self._target = target
        self._spec: PollSpec = target.spec
        self._clock = clock
        self._base = self._base_url()
        self._id_path = self._spec.id_path
        self.listed: list[str] = []  # with seen_ids: the ids a first round listed, without firing
        self.restarted = False  # a first round began in this poll: the ids kept before are stale
        self._round = ""  # the token a poll's changes were read from
        self._newest = 0.0  # the newest record time (version_path) a token cursor's polls have read
        self._last_poll = 0.0  # where the pair's previous poll left off: records created since are new to this one

    def _base_url(self) -> str:
        cred, spec = self._target.credential, self._spec
        base = self._target.integration.options.api_base_url
        if base is None and spec.base_url_value and spec.base_url_value in cred.values:
            base = cred.values[spec.base_url_value].get_secret_value()
            try:
                check_base_url(base, field=spec.base_url_value)  # a credential value: checked as apply checks options
            except ValueError:
                raise PollFailed("bad_base_url", retryable=False) from None
        return (base or spec.base_url).rstrip("/")

    def context(self, cursor: str = "", page: str = "", after: str = "") -> dict[str, str]:
        cred, integration = self._target.credential, self._target.integration
        if self._spec.cursor == "time" and self._spec.cursor_format == "iso_z":
            cursor = _iso_z(cursor)
        elif self._spec.cursor == "time" and self._spec.cursor_format == "epoch_ms" and cursor:
            cursor = str(int((self._time(cursor) or 0.0) * 1000))
        elif self._spec.cursor == "time" and self._spec.cursor_format == "ms_date" and cursor:
            cursor = _utc(self._time(cursor), "%Y-%m-%dT%H:%M:%S") or cursor
        ctx = {f"credential.{k}": v.get_secret_value() for k, v in cred.values.items()}
        ctx |= {
            "api.base": self._base,
            "credential.id": cred.id,
            "credential.providerId": cred.provider_id or "",
            "integration.id": integration.id,
            "integration.type": integration.type,
            "user.id": cred.user,
            "poll.cursor": cursor,
            "poll.page": page,
            "poll.after_id": after or self._spec.tie_break_floor,
            "poll.now": datetime.fromtimestamp(int(self._clock()), UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "poll.since_minutes": str(_minutes_since(cursor, self._clock())),
            "poll.page_link": self._link(page),
            "poll.cursor_link": self._link(cursor),
        }
        if self._spec.window is not None:
            now = self._clock()
            ctx["poll.window_start"] = _z(now - self._spec.window[0])
            ctx["poll.window_end"] = _z(now + self._spec.window[1])
        # Plain parameters first: a query parameter may name another one (``{{trigger.object}}``).
        for name, value in sorted(self._spec.params.items(), key=lambda item: "{{" in item[1]):
            try:
                ctx[f"trigger.{name}"] = render_text(value, ctx)
            except TemplateError:
                raise PollFailed("template", retryable=False) from None
        return ctx

    def _link(self, value: str) -> str:
        """A page or cursor that may be a provider's full URL (Graph's next and delta links): usable as one only on
        the API's own origin, or the access token would go wherever an answer points."""
        if not value.startswith(("https://", "http://")):
            return ""
        if _origin(value) != _origin(self._base):
            raise PollFailed("foreign_link", retryable=False)
        return value

    async def call(self, template: RequestTemplate, ctx: Mapping[str, str]) -> Any:
        try:
            method, url, headers, body = render(template, ctx)
            if not url.startswith(("https://", "http://")):  # a link placeholder the answer left empty or bare
                raise PollFailed("invalid_url", retryable=False)
            async with self._http.stream(method, url, headers=headers, content=body) as response:
                content = await self._read(response)
        except TemplateError:
            raise PollFailed("template", retryable=False) from None
        except httpx.InvalidURL:
            raise PollFailed("invalid_url", retryable=False) from None
        except httpx.HTTPError as exc:
            # The egress guard marks a refused address not retryable: waiting does not change a policy.
            if getattr(exc, "retryable", True) is False:
                raise PollFailed(str(getattr(exc, "reason", "refused")), retryable=False) from None
            raise PollFailed("transport", retryable=True) from None
        return self._provider_error(self._answer(response, content))

    def _provider_error(self, data: Any) -> Any:
        """An error a provider answers with 200 (Marketo's ``errors``), as the failure its status would be."""
        spec = self._spec
        code = read_path(data, {}, spec.error_path) if spec.error_path else None
        if code is None:
            return data
        if code in spec.unauthorized_errors:
            raise Unauthorized()
        reason = "provider_" + "".join(c for c in code if c.isascii() and c.isalnum())[:16]
        raise PollFailed(reason, retryable=code in spec.retryable_errors)

    async def _read(self, response: httpx.Response) -> bytes:
        # Counted as it arrives: a Content-Length is only a claim, and a body without one may never end.
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_bytes:
            raise PollFailed("answer_too_large", status=response.status_code, retryable=True)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_bytes:
                raise PollFailed("answer_too_large", status=response.status_code, retryable=True)
            chunks.append(chunk)
        return b"".join(chunks)

    def _answer(self, response: httpx.Response, content: bytes) -> Any:
        status = response.status_code
        if status in (204, 304):  # nothing changed (Zoho answers both)
            return None
        if status == 401:
            raise Unauthorized()
        if status >= 500 or status in (408, 429):
            wait = retry_after_s(response.headers.get("retry-after", ""), self._clock())
            raise PollFailed(f"http_{status}", status=status, retryable=True, retry_after_s=wait)
        if status >= 400 or status < 200:
            raise PollFailed(f"http_{status}", status=status, retryable=False)
        try:
            return json.loads(content) if content else None
        except (ValueError, RecursionError):
            raise PollFailed("malformed_answer", status=status, retryable=True) from None

    # -- the three kinds of cursor ------------------------------------------------------------------------------

    async def run(self, state: PollState) -> list[Found]:
        # Where the previous poll left off, in the provider's clock: a time cursor's time, or the newest record time
        # a token cursor's polls have read (every record read before is no newer); else when that poll began.
        since = self._time(state.cursor) if self._spec.cursor == "time" and state.cursor else None
        self._last_poll = since if since is not None else (state.newest or state.polled_at)
        self._newest = state.newest
        if "{{" in self._spec.id_path:  # a parameter's column (a Dataverse table's key): read from the trigger
            try:
                self._id_path = render_text(self._spec.id_path, self.context())
            except TemplateError:
                raise PollFailed("template", retryable=False) from None
        if self._spec.cursor == "time":
            return await self._by_time(state)
        if self._spec.cursor == "token":
            return await self._by_token(state)
        return await self._rows(state)

    def _time(self, value: str) -> float | None:
        """Unix seconds of a cursor (None when unreadable): a record's time, or the first poll's ISO 8601 now."""
        if self._spec.cursor_format == "ms_date":
            return ms_date(value) if value.startswith("/Date(") else time_of(value)
        return self._record_time(value)

    def _record_time(self, value: str) -> float | None:
        """Unix seconds of a record's time: ``epoch_ms`` specs' records give millis, ``ms_date`` ones only
        ``/Date(...)/``."""
        if self._spec.cursor_format == "ms_date":
            return ms_date(value)
        if self._spec.cursor_format == "epoch_ms" and value.isascii() and value.isdigit():
            return int(value) / 1000
        return time_of(value)

    async def _by_time(self, state: PollState) -> list[Found]:
        spec = self._spec
        if not state.cursor:
            state.cursor, state.after = start_cursor(self._clock()), ""  # the first poll: from now on, no history
            return []
        since = self._time(state.cursor) or 0.0
        walk = _Walk(state.cursor, since, state.after if spec.tie_break else "")
        found: list[Found] = []
        for number in range(spec.max_pages):
            template = spec.page if walk.page and spec.page else spec.request
            data = await self.call(template, self.context(walk.cursor, walk.page, walk.after))
            records = records_of(data, spec.records_path)
            older = False
            for record in records:
                value = read_path(record, {}, spec.cursor_path or "")
                t = self._record_time(value) if value is not None else None
                if value is None or t is None or t < since:
                    older = True  # the provider could not filter it out (or it has no time): seen before
                    continue
                found.extend(self._found(self._children(record, since)))
                if t > walk.newest_t:
                    walk.newest, walk.newest_t = value, t
            if not self._next(walk, data, records, older, number):
                break
        state.cursor, state.after = walk.newest, walk.after
        return found

    def _next(self, walk: _Walk, data: Any, records: list[Any], older: bool, number: int) -> bool:
        """Where the poll goes after a page (``walk`` updated), or False when it ends there."""
        spec = self._spec
        if spec.tie_break:
            # The keyset goes on from the page's last record in the provider's (time, id) order.
            last = _keyset(records[-1], spec) if records else None
            if last is not None and (time_of(last[0]) or 0.0) >= walk.since:
                walk.newest, walk.newest_t, walk.after = last[0], time_of(last[0]) or 0.0, last[1]
            walk.cursor = walk.newest
            return len(records) >= spec.page_size and last is not None
        if spec.next_page_path:
            walk.page = read_path(data, {}, spec.next_page_path) or ""
            return bool(walk.page) and not (older and spec.newest_first)
        if spec.first_page is not None:
            # The next page of the same query: a page full of records of one second is read past, not asked again.
            walk.page = str(spec.first_page + (number + 1) * spec.page_step)
            return len(records) >= spec.page_size
        if len(records) < spec.page_size or walk.newest == walk.cursor:
            return False  # the last page, or a full page within one second: the next poll asks that second again
        walk.cursor = walk.newest
        return True

    def _children(self, record: Any, since: float) -> list[Any]:
        """A listed record's children at or after the cursor, each with the record (less its children) beside it."""
        children = self._spec.children
        if children is None:
            return [record]
        parent = _without(record, children.path.split("."))
        out = []
        for child in records_of(record, children.path):
            value = read_path(child, {}, children.time_path)
            t = self._record_time(value) if value is not None else None
            if t is not None and t >= since:
                out.append({children.as_: child, children.parent_as: parent})
        return out

    async def _by_token(self, state: PollState) -> list[Found]:
        spec = self._spec
        if not state.cursor:
            await self._establish(state)
            return []
        self._round = state.cursor
        found: list[Found] = []
        for _ in range(spec.max_pages):
            template = spec.page if state.page and spec.page else spec.request
            try:
                data = await self.call(template, self.context(state.cursor, state.page))
            except PollFailed as exc:
                if exc.status in spec.reset_statuses:  # the token expired: start over, firing nothing
                    state.cursor, state.page = "", ""
                    return found
                raise
            found.extend(self._found(self._noted(records_of(data, spec.records_path))))
            state.newest = self._newest
            state.page = self._next_page(data)
            if not state.page:
                state.cursor = read_path(data, {}, spec.cursor_path or "") or state.cursor
                break
        else:
            return found  # pages left: this round goes on next time, before any new one is opened
        if spec.reopen_after_s is not None and self._clock() - state.opened >= spec.reopen_after_s:
            # A windowed delta runs out: a new round from now, right after the old one was read to its end.
            state.cursor, state.page = "", ""
            await self._establish(state)
        return found

    def _next_page(self, data: Any) -> str:
        spec = self._spec
        if not spec.next_page_path:
            return ""
        if spec.more_path is not None and _raw(data, spec.more_path) is not True:
            return ""
        return read_path(data, {}, spec.next_page_path) or ""

    async def _establish(self, state: PollState) -> None:
        spec = self._spec
        init = spec.init or spec.request
        self.restarted = self.restarted or not state.page
        for _ in range(spec.max_pages):
            template = spec.init_page if state.page and spec.init_page else init
            data = await self.call(template, self.context("", state.page))
            state.newest = self._newest = max([self._newest, *self._versions(records_of(data, spec.records_path))])
            if spec.seen_ids:
                listed = (read_path(r, {}, self._id_path) for r in records_of(data, spec.records_path))
                self.listed.extend(i for i in listed if i)
            next_page = self._next_page(data) if spec.init_page else None
            if next_page:
                state.page = next_page  # history, paged through without firing; resumed next time if cut short
                continue
            token = read_path(data, {}, spec.init_cursor_path or spec.cursor_path or "")
            if not token:
                raise PollFailed("answer_without_cursor", retryable=False)
            state.cursor, state.page, state.opened = token, "", self._clock()
            return

    async def _rows(self, state: PollState) -> list[Found]:
        data = await self.call(self._spec.request, self.context(state.cursor))
        rows = records_of(data, self._spec.records_path)
        seen = int(state.cursor) if state.cursor.isdigit() else None
        state.cursor = str(len(rows))
        if seen is None or len(rows) <= seen:  # the first poll, or rows were removed: nothing new to fire
            return []
        return self._found([{"row": n + 1, "values": row} for n, row in enumerate(rows) if n >= seen], rows=True)

    def _versions(self, records: list[Any]) -> list[float]:
        """The record times a ``since_last_poll`` rule reads against (none for specs without one)."""
        spec = self._spec
        if not spec.version_path or not any(rule.since_last_poll for rule in spec.events):
            return []
        values = (read_path(r, {}, spec.version_path) for r in records)
        return [t for t in (time_of(v) for v in values if v) if t is not None]

    def _noted(self, records: list[Any]) -> list[Any]:
        self._newest = max([self._newest, *self._versions(records)])
        return records

    def _found(self, records: list[Any], *, rows: bool = False) -> list[Found]:
        spec, out = self._spec, []
        for record in records:
            event_type = spec.event_type(record, self._last_poll)
            if_new = spec.event_type(record, self._last_poll, new=True) if spec.seen_ids else None
            record_id = str(record["row"]) if rows else read_path(record, {}, self._id_path)
            if not (event_type or if_new) or not record_id:
                continue
            body = json.dumps(record, separators=(",", ":"), sort_keys=True).encode()
            version = read_path(record, {}, spec.version_path) if spec.version_path else None
            if spec.once_per_record:
                version = "first"
            elif not version:
                # No version (a deleted row): its body, and with seen_ids the round it was read in, since such ids
                # come back (a Dropbox path deleted, created and deleted again is two deletions).
                salt = self._round.encode() + b"\n" if spec.seen_ids else b""
                version = hashlib.sha256(salt + body).hexdigest()[:16]
            delivery_id = f"poll:{spec.key}:{record_id}:{version}"  # whatever its type: a record is stored once
            out.append(Found(event_type or "", delivery_id, body, record_id, if_new or ""))
        return out
