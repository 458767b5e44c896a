"""Provider APIs that polls read, on a real loopback socket, written from each provider's documentation.

- Salesforce REST ``query`` (SOQL): ``FROM <object> WHERE [... AND] <field> >= <dateTime> ORDER BY <field> ASC LIMIT n``
  answered from ``salesforce`` (records with ``attributes.type``), as ``{"totalSize", "done", "records"}``.
- Google Calendar ``events.list``: full listing paged by ``pageToken`` (the last page carries ``nextSyncToken``);
  with ``syncToken``, what changed since (cancelled events included); a token in ``expired_sync_tokens`` → 410.
- Google Drive ``changes.getStartPageToken`` and ``changes.list`` (``nextPageToken`` / ``newStartPageToken``).
- Google Sheets ``values.get``: ``{"values": rows}``.
- Pipedrive ``GET /v1/leads?sort=add_time DESC&start&limit`` with ``additional_data.pagination``.
- Microsoft Graph delta over a change log (``graph_logs``: every version of every record, in order): calendarView
  (a round keeps the ``startDateTime``..``endDateTime`` of its first request; an event is in it when its ``start``
  is), SharePoint list items and a site drive (``token=latest``: no items, a delta link from now); removed records
  are rows with ``@removed`` / ``deleted``. Teams channel and chat lists (``$top``, ``$skiptoken`` next links).
- Dataverse ``GET /api/data/v9.2/<entity set>?$filter=modifiedon ge <t>&$orderby=modifiedon asc`` with
  ``Prefer: odata.maxpagesize`` and ``@odata.nextLink`` (OData-Version 4.0 required).
- Dropbox ``list_folder``, ``list_folder/get_latest_cursor`` and ``list_folder/continue`` over a change log
  (``dropbox_log``), cursors as positions; a cursor in ``reset_cursors`` answers 409 ``reset``.
- An OAuth token endpoint (``/oauth/token``): ``refresh_token`` grants answered from ``refresh``.
- Zoho CRM records (``If-Modified-Since``, ``page``), Outreach (``links.next``), Jira search and audit records,
  Lever opportunities and postings, QuickBooks CDC, Graph message delta, Xero (``If-Modified-Since``, ``page``),
  Pardot v5 (``nextPageUrl``), Marketo activities (paging tokens, ``moreResult``, errors answered with 200):
  each below, with the documentation it follows.

``fail(status, **headers)`` answers the next call with that status instead; every call is recorded.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes


def _t(value: str) -> float:
    text = value.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).timestamp()


# A keyset on (time, Id): ``(F > t OR (F = t AND Id > 'after'))``, sorted by F then Id, as the Salesforce specs ask.
_SOQL = re.compile(
    r"FROM (?P<object>\w+) WHERE (?:.* AND )?\((?P<field>\w+) > (?P<since>\S+) OR \((?P=field) = (?P=since) "
    r"AND Id > '(?P<after>[^']*)'\)\) ORDER BY (?P<order>\w+) ASC, Id ASC LIMIT (?P<limit>\d+)$"
)


@dataclass
class FakeApis:
    base: str = ""
    calls: list[Call] = field(default_factory=list)
    failures: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    delay_s: float = 0.0
    salesforce: list[dict[str, Any]] = field(default_factory=list)
    calendar_log: list[dict[str, Any]] = field(default_factory=list)  # every version of every event, in order
    expired_sync_tokens: set[str] = field(default_factory=set)
    drive_log: list[dict[str, Any]] = field(default_factory=list)
    sheet: list[list[str]] = field(default_factory=list)
    leads: list[dict[str, Any]] = field(default_factory=list)
    notion: list[dict[str, Any]] = field(default_factory=list)
    outreach: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    refresh: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # refresh token → answer
    tokens: set[str] = field(default_factory=lambda: {"tok"})  # access tokens the APIs accept
    qbo: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # QuickBooks entity name → objects
    opportunities: list[dict[str, Any]] = field(default_factory=list)  # Lever, in no particular order
    issues: list[dict[str, Any]] = field(default_factory=list)  # Jira issues, each as its latest version
    mail: list[dict[str, Any]] = field(default_factory=list)  # an inbox: messages in the order they arrived
    expired_delta_tokens: set[str] = field(default_factory=set)
    link_base: str = ""  # the origin Graph's next and delta links name; the server's own when empty
    graph_logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # collection → versions, in order
    channels: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # Teams: team id → channels
    chats: list[dict[str, Any]] = field(default_factory=list)
    dataverse: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # entity set → rows (latest versions)
    dropbox_log: list[dict[str, Any]] = field(default_factory=list)  # metadata entries, in the order of changes
    reset_cursors: set[str] = field(default_factory=set)
    padding: int = 0  # bytes of whitespace streamed after a query's answer (a provider answering too much)
    declare_length: bool = True  # whether that padded answer says how long it is
    zoho: list[dict[str, Any]] = field(default_factory=list)  # Zoho CRM records of the Leads module
    xero: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "Invoices" → invoices, ...
    pardot: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "prospects" → prospects, ...
    marketo: list[dict[str, Any]] = field(default_factory=list)  # the activity log, oldest first
    marketo_errors: list[str] = field(default_factory=list)  # error codes answered (with 200) to the next calls
    audit: list[dict[str, Any]] = field(default_factory=list)  # Jira audit records
    postings: list[dict[str, Any]] = field(default_factory=list)  # Lever postings, in no particular order

    def fail(self, status: int, **headers: str) -> None:
        self.failures.append((status, headers))

    def on(self, path_part: str) -> list[Call]:
        return [c for c in self.calls if path_part in c.path]

    async def _gate(self, request: Request) -> Response | None:
        body = await request.body()
        query = {k: v[-1] for k, v in parse_qs(request.url.query, keep_blank_values=True).items()}
        self.calls.append(Call(request.method, request.url.path, query, dict(request.headers), body))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.failures:
            status, headers = self.failures.pop(0)
            return JSONResponse({"error": "scripted"}, status_code=status, headers=headers)
        if request.url.path not in ("/oauth/token", "/identity/oauth/token"):
            auth = request.headers.get("authorization", "")
            if auth.split(" ")[-1] not in self.tokens:
                return JSONResponse({"error": "invalid_token"}, status_code=401)
        return None

    async def soql(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        match = _SOQL.search(request.query_params["q"])
        if match is None:
            return JSONResponse([{"errorCode": "MALFORMED_QUERY"}], status_code=400)
        since, name, after = _t(match["since"]), match["field"], match["after"]
        if not after:  # SOQL refuses '' as an Id
            return JSONResponse([{"errorCode": "INVALID_QUERY_FILTER_OPERATOR"}], status_code=400)

        def past(r: dict[str, Any]) -> bool:
            t = int(_t(r[name]))  # SOQL compares dateTime literals to the second
            return t > since or (t == since and r["Id"] > after)

        rows = [r for r in self.salesforce if r["attributes"]["type"] == match["object"] and past(r)]
        rows.sort(key=lambda r: (_t(r[match["order"]]), r["Id"]))
        rows = rows[: int(match["limit"])]
        answer = dumps({"totalSize": len(rows), "done": True, "records": rows})
        if self.padding:
            return self._padded(answer)
        return Response(answer, media_type="application/json")

    def _padded(self, answer: bytes) -> Response:
        size = len(answer) + self.padding

        async def chunks() -> AsyncIterator[bytes]:
            yield answer
            for start in range(0, self.padding, 65536):
                yield b" " * min(65536, self.padding - start)

        headers = {"content-length": str(size)} if self.declare_length else {}
        return StreamingResponse(chunks(), media_type="application/json", headers=headers)

    # -- Google Calendar: sync tokens are positions in the change log, page tokens "<position>:<offset>"

    async def calendar(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        sync = q.get("syncToken")
        if sync in self.expired_sync_tokens:
            return JSONResponse({"error": {"code": 410, "message": "Sync token is no longer valid"}}, status_code=410)
        start = int(sync) if sync else 0
        latest: dict[str, dict[str, Any]] = {}
        for event in self.calendar_log[start:]:
            latest[event["id"]] = event
        items = list(latest.values()) if sync else [e for e in latest.values() if e.get("status") != "cancelled"]
        offset = int(q.get("pageToken", "0:0").split(":")[1])
        size = int(q.get("maxResults", "250"))
        page = items[offset : offset + size]
        answer: dict[str, Any] = {"kind": "calendar#events", "items": page}
        if offset + size < len(items):
            answer["nextPageToken"] = f"{start}:{offset + size}"
        else:
            answer["nextSyncToken"] = str(len(self.calendar_log))
        return JSONResponse(answer)

    async def drive_start(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        return JSONResponse({"kind": "drive#startPageToken", "startPageToken": str(len(self.drive_log))})

    async def drive_changes(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        start, size = int(request.query_params["pageToken"]), int(request.query_params.get("pageSize", "100"))
        changes = self.drive_log[start : start + size]
        answer: dict[str, Any] = {"kind": "drive#changeList", "changes": changes}
        if start + size < len(self.drive_log):
            answer["nextPageToken"] = str(start + size)
        else:
            answer["newStartPageToken"] = str(len(self.drive_log))
        return JSONResponse(answer)

    async def sheet_values(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        return JSONResponse({"range": request.path_params["range"], "majorDimension": "ROWS", "values": self.sheet})

    async def pipedrive_leads(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        start, limit = int(request.query_params.get("start", "0")), int(request.query_params.get("limit", "100"))
        ordered = sorted(self.leads, key=lambda lead: _t(lead["add_time"]), reverse=True)
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        pagination: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return JSONResponse({"success": True, "data": page, "additional_data": {"pagination": pagination}})

    async def notion_search(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        if request.headers.get("notion-version") != "2022-06-28":
            return JSONResponse({"object": "error", "code": "missing_version"}, status_code=400)
        query = json.loads(self.calls[-1].body)
        start, size = int(query.get("start_cursor") or 0), int(query.get("page_size", 100))
        pages = sorted(self.notion, key=lambda p: _t(p["last_edited_time"]), reverse=True)
        more = start + size < len(pages)
        return JSONResponse(
            {
                "object": "list",
                "results": pages[start : start + size],
                "has_more": more,
                "next_cursor": str(start + size) if more else None,
            }
        )

    async def outreach_list(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        since = _t(request.query_params["filter[updatedAt]"].removesuffix("..inf"))
        size = int(request.query_params["page[size]"])
        rows = [
            r
            for r in self.outreach.get(request.path_params["resource"], [])
            if _t(r["attributes"]["updatedAt"]) >= since
        ]
        rows.sort(key=lambda r: (_t(r["attributes"]["updatedAt"]), r["id"]))
        start = int(request.query_params.get("page[after]", "0"))
        body: dict[str, Any] = {"data": rows[start : start + size], "meta": {"count": len(rows)}}
        if start + size < len(rows):  # the next page's full URL, carrying the query on (JSON:API "links")
            query = request.url.query.split("&page%5Bafter%5D=")[0]
            body["links"] = {"next": f"{self.base}{request.url.path}?{query}&page%5Bafter%5D={start + size}"}
        return JSONResponse(body)

    async def token(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        form = {k: v[-1] for k, v in parse_qs(self.calls[-1].body.decode()).items()}
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        status, answer = self.refresh.get(form.get("refresh_token", ""), (400, {"error": "invalid_grant"}))
        if status == 200 and "access_token" in answer:
            self.tokens.add(answer["access_token"])
        return JSONResponse(answer, status_code=status)

    # -- Microsoft Graph message delta: links carry positions in the inbox ("$deltatoken=<n>",
    # "$skiptoken=<start>.<offset>"); the page size comes from "Prefer: odata.maxpagesize=<n>" (10 by default).

    async def mail_delta(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
        size = int(prefer[1]) if prefer else 10
        if "$deltatoken" in q:
            if q["$deltatoken"] in self.expired_delta_tokens:
                return JSONResponse({"error": {"code": "SyncStateNotFound"}}, status_code=410)
            start, offset = int(q["$deltatoken"]), 0
        elif "$skiptoken" in q:
            start, offset = (int(part) for part in q["$skiptoken"].split("."))
        elif q.get("changeType") == "created" and "$select" in q:
            start, offset = 0, 0  # the first round: every message in the folder
        else:
            return JSONResponse({"error": {"code": "BadRequest"}}, status_code=400)
        rows = self.mail[start:]
        here = (self.link_base or self.base) + request.url.path
        body: dict[str, Any] = {"value": rows[offset : offset + size]}
        if offset + size < len(rows):
            body["@odata.nextLink"] = f"{here}?$skiptoken={start}.{offset + size}"
        else:
            body["@odata.deltaLink"] = f"{here}?$deltatoken={len(self.mail)}"
        return JSONResponse(body)

    # -- Jira JQL search: "updated >= -<n>m ORDER BY updated ASC", compared to the minute as Jira does, relative to
    # the clock the test sets (``now``); pages of maxResults with "nextPageToken" (an offset, opaque to the client).

    now: float = 0.0

    async def jira_search(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        match = re.fullmatch(r"updated >= -(\d+)m ORDER BY updated ASC", q.get("jql", ""))
        if match is None or request.path_params["cloud"] != "cloud-1":
            return JSONResponse({"errorMessages": ["bad jql or site"]}, status_code=400)
        since = (self.now // 60 - int(match[1])) * 60  # minute precision: from the start of that minute
        rows = sorted(
            (i for i in self.issues if _t(i["fields"]["updated"]) >= since), key=lambda i: _t(i["fields"]["updated"])
        )
        start, size = int(q.get("nextPageToken") or 0), int(q["maxResults"])
        body: dict[str, Any] = {"issues": rows[start : start + size], "isLast": start + size >= len(rows)}
        if start + size < len(rows):
            body["nextPageToken"] = str(start + size)
        return JSONResponse(body)

    # -- Lever: updated_at_start in Unix ms, limit and an offset token ("next"), hasNext.

    async def lever_opportunities(self, request: Request) -> Response:
        return await self._lever(request, self.opportunities)

    async def lever_postings(self, request: Request) -> Response:
        return await self._lever(request, self.postings)

    async def _lever(self, request: Request, listed: list[dict[str, Any]]) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        if not q.get("updated_at_start", "").isdigit():
            return JSONResponse({"code": "BadRequestError", "message": "updated_at_start: ms"}, status_code=400)
        since, limit = int(q["updated_at_start"]), min(int(q.get("limit", "100")), 100)
        rows = [o for o in listed if o["updatedAt"] >= since]
        start = int(q.get("offset") or 0)
        body: dict[str, Any] = {"data": rows[start : start + limit], "hasNext": start + limit < len(rows)}
        if body["hasNext"]:
            body["next"] = str(start + limit)
        return JSONResponse(body)

    # -- QuickBooks CDC: objects changed at or after changedSince, at most 1000, oldest first per entity.

    async def qbo_cdc(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        if request.path_params["realm"] != "realm-1" or "changedSince" not in q:
            return JSONResponse({"Fault": {"Error": [{"Message": "bad request"}]}}, status_code=400)
        since = _t(q["changedSince"])
        found = []
        for entity in q["entities"].split(","):
            rows = [o for o in self.qbo.get(entity, []) if _t(o["MetaData"]["LastUpdatedTime"]) >= since]
            rows.sort(key=lambda o: _t(o["MetaData"]["LastUpdatedTime"]))
            found.append({entity: rows[:1000], "startPosition": 1, "maxResults": min(len(rows), 1000)})
        return JSONResponse({"CDCResponse": [{"QueryResponse": found}], "time": "2026-01-01T00:00:00.000-08:00"})

    # -- Zoho CRM get-records: If-Modified-Since (records modified at or after it), sort_by Modified_Time asc,
    # page (from 1) and per_page; "info.more_records"; 304 when nothing changed.

    async def zoho_records(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        if q.get("sort_by") != "Modified_Time" or q.get("sort_order") != "asc":
            return JSONResponse({"code": "INVALID_DATA"}, status_code=400)
        since = _t(request.headers["if-modified-since"])
        rows = sorted((r for r in self.zoho if _t(r["Modified_Time"]) >= since), key=lambda r: _t(r["Modified_Time"]))
        page, size = int(q.get("page", "1")), int(q["per_page"])
        chunk = rows[(page - 1) * size : page * size]
        if not chunk:
            return Response(status_code=304)
        more = page * size < len(rows)
        return JSONResponse({"data": chunk, "info": {"page": page, "per_page": size, "more_records": more}})

    # -- Xero Accounting: If-Modified-Since (UTC, "YYYY-MM-DDThh:mm:ss"), order=UpdatedDateUTC ASC, page from 1 of
    # pageSize; UpdatedDateUTC as "/Date(<ms>+0000)/"; the organisation in Xero-tenant-id.

    async def xero_list(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q, resource = request.query_params, request.path_params["resource"]
        if request.headers.get("xero-tenant-id") != "tenant-1":
            return JSONResponse({"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"}, status_code=403)
        modified = request.headers.get("if-modified-since", "")
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", modified) or q.get("order") != "UpdatedDateUTC ASC":
            return JSONResponse({"Type": "ValidationException"}, status_code=400)
        since = _t(modified + "Z")
        # A record whose time is in another form is answered whatever it says (the client must not take it).
        rows = [r for r in self.xero.get(resource, []) if xero_ms(r["UpdatedDateUTC"]) / 1000 >= since]
        rows.sort(key=lambda r: xero_ms(r["UpdatedDateUTC"]))
        if resource != "Accounts":
            page, size = int(q.get("page", "1")), int(q.get("pageSize", "100"))
            rows = rows[(page - 1) * size : page * size]
        return JSONResponse({"Id": "answer-1", "Status": "OK", resource: rows})

    # -- Pardot v5 query: fields (required), createdAtAfterOrEqualTo, orderBy createdAt then id, limit; a
    # nextPageToken sent alone (with nothing but fields) carries the query on; the business unit in a header.

    async def pardot_query(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q, resource = request.query_params, request.path_params["resource"]
        if request.headers.get("pardot-business-unit-id") != "0Uv000000000001":
            return JSONResponse({"code": 181, "message": "Invalid Business Unit ID"}, status_code=400)
        if "nextPageToken" in q:
            if set(q) - {"nextPageToken", "fields"}:
                return JSONResponse({"code": 54, "message": "only fields may go with a page token"}, status_code=400)
            since_text, start, size = q["nextPageToken"].split("|")
            since, offset, limit = _t(since_text), int(start), int(size)
        elif "fields" not in q or q.get("orderBy") != "createdAt ASC,id ASC":
            return JSONResponse({"code": 54, "message": "fields and orderBy"}, status_code=400)
        else:
            since_text, offset, limit = q["createdAtAfterOrEqualTo"], 0, int(q["limit"])
            since = _t(since_text)
        rows = sorted(
            (r for r in self.pardot.get(resource, []) if _t(r["createdAt"]) >= since),
            key=lambda r: (_t(r["createdAt"]), r["id"]),
        )
        body: dict[str, Any] = {"values": rows[offset : offset + limit], "nextPageToken": None, "nextPageUrl": None}
        if offset + limit < len(rows):
            token = f"{since_text}|{offset + limit}|{limit}"
            body["nextPageToken"] = token
            body["nextPageUrl"] = f"{self.link_base or self.base}{request.url.path}?nextPageToken={quote(token)}"
        return JSONResponse(body)

    # -- Marketo: a paging token is a position in the activity log ("P<n>"); pagingtoken.json answers the first
    # activity at or after sinceDatetime, activities.json up to batchSize (300) of the types asked from a token on,
    # with moreResult and the token after them. Errors come with 200 and "success": false.

    async def marketo_identity(self, request: Request) -> Response:
        """``POST /identity/oauth/token``: a client_credentials grant for the client ``mk-client`` / ``mk-secret``."""
        if (early := await self._gate(request)) is not None:
            return early
        form = {k: v[-1] for k, v in parse_qs(self.calls[-1].body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if (form.get("client_id"), form.get("client_secret")) != ("mk-client", "mk-secret"):
            return JSONResponse({"error": "unauthorized", "error_description": "Bad client credentials"}, 401)
        token = f"mk-token-{len(self.tokens)}"
        self.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": 3599, "scope": "a@b.c"})

    def _marketo_error(self) -> Response | None:
        if not self.marketo_errors:
            return None
        code = self.marketo_errors.pop(0)
        return JSONResponse({"requestId": "e#1", "success": False, "errors": [{"code": code, "message": "scripted"}]})

    async def marketo_paging_token(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None or (early := self._marketo_error()) is not None:
            return early
        since = _t(request.query_params["sinceDatetime"])
        position = next((n for n, a in enumerate(self.marketo) if _t(a["activityDate"]) >= since), len(self.marketo))
        return JSONResponse({"requestId": "t#1", "success": True, "nextPageToken": f"P{position}"})

    async def marketo_activities(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None or (early := self._marketo_error()) is not None:
            return early
        q = request.query_params
        token, types = q.get("nextPageToken", ""), set(q.get("activityTypeIds", "").split(","))
        if not re.fullmatch(r"P\d+", token) or not types - {""}:
            return JSONResponse({"requestId": "a#1", "success": False, "errors": [{"code": "1003"}]})
        position, size = int(token[1:]), int(q.get("batchSize", "300"))
        result: list[dict[str, Any]] = []
        while position < len(self.marketo) and len(result) < size:
            if str(self.marketo[position]["activityTypeId"]) in types:
                result.append(self.marketo[position])
            position += 1
        body: dict[str, Any] = {"requestId": "a#2", "success": True, "nextPageToken": f"P{position}"}
        body["moreResult"] = position < len(self.marketo)
        if result:  # Marketo leaves "result" out of an empty page
            body["result"] = result
        return JSONResponse(body)

    # -- Jira audit records: created at or after "from", matching "filter" anywhere, newest first, offset and limit.

    async def jira_audit(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        since, needle = _t(q["from"]), q.get("filter", "").lower()
        rows = [r for r in self.audit if _t(r["created"]) >= since and needle in json.dumps(r).lower()]
        rows.sort(key=lambda r: (_t(r["created"]), r["id"]), reverse=True)
        offset, limit = int(q.get("offset", "0")), min(int(q.get("limit", "1000")), 1000)
        return JSONResponse(
            {"offset": offset, "limit": limit, "total": len(rows), "records": rows[offset : offset + limit]}
        )

    # -- Microsoft Graph delta over a change log: "$deltatoken=<n>~<window>" (what changed since position n) and
    # "$skiptoken=<n|i>.<offset>~<window>" (a page of a delta, or of a first round's listing: "i"), a window
    # "<start>,<end>" (calendarView) or "" (lists and drives). Each record is listed once, as its latest version.

    def _graph_delta(self, request: Request, name: str, windowed: bool) -> Response:
        q = request.query_params
        prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
        size = int(prefer[1]) if prefer else 10
        log = self.graph_logs.get(name, [])
        here = (self.link_base or self.base) + request.url.path
        since: int | None  # None: a first round
        if "$deltatoken" in q or "$skiptoken" in q:
            token = q.get("$deltatoken") or q["$skiptoken"]
            if token in self.expired_delta_tokens:
                return JSONResponse({"error": {"code": "resyncRequired"}}, status_code=410)
            position, window = token.split("~")
            first, _, at = position.partition(".")
            since, offset = (None if first == "i" else int(first)), int(at or 0)
        elif q.get("token") == "latest":
            return JSONResponse({"value": [], "@odata.deltaLink": f"{here}?$deltatoken={len(log)}~"})
        elif windowed and ("startDateTime" not in q or "endDateTime" not in q):
            return JSONResponse({"error": {"code": "ErrorInvalidParameter"}}, status_code=400)
        else:
            since, offset = None, 0
            window = f"{q['startDateTime']},{q['endDateTime']}" if windowed else ""
        latest: dict[str, dict[str, Any]] = {}
        for row in log[since or 0 :]:
            latest[row["id"]] = row
        rows = list(latest.values())
        if since is None:  # a first round lists what is there, not what was removed
            rows = [r for r in rows if "@removed" not in r and "deleted" not in r]
        if window:
            low, high = (_t(part) for part in window.split(","))
            rows = [r for r in rows if "start" not in r or low <= _t(r["start"]["dateTime"] + "Z") < high]
        body: dict[str, Any] = {"value": rows[offset : offset + size]}
        if offset + size < len(rows):
            body["@odata.nextLink"] = f"{here}?$skiptoken={'i' if since is None else since}.{offset + size}~{window}"
        else:
            body["@odata.deltaLink"] = f"{here}?$deltatoken={len(log)}~{window}"
        return JSONResponse(body)

    async def calendar_view_delta(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        return self._graph_delta(request, "calendar", windowed=True)

    async def list_items_delta(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        p = request.path_params
        q = request.query_params
        if "$deltatoken" not in q and "$skiptoken" not in q and q.get("$expand") != "fields":
            return JSONResponse({"error": {"code": "invalidRequest"}}, status_code=400)
        return self._graph_delta(request, f"items:{p['site']}:{p['list']}", windowed=False)

    async def drive_delta(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        return self._graph_delta(request, f"drive:{request.path_params['site']}", windowed=False)

    def _graph_list(self, request: Request, rows: list[dict[str, Any]], top: int) -> Response:
        offset = int(request.query_params.get("$skiptoken", "0"))
        top = int(request.query_params.get("$top", str(top)))
        if top > 50:
            return JSONResponse({"error": {"code": "BadRequest", "message": "$top: at most 50"}}, status_code=400)
        body: dict[str, Any] = {"value": rows[offset : offset + top]}
        if offset + top < len(rows):
            body["@odata.nextLink"] = (
                f"{self.link_base or self.base}{request.url.path}?$top={top}&$skiptoken={offset + top}"
            )
        return JSONResponse(body)

    async def team_channels(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        team = request.path_params["team"]
        if team not in self.channels:
            return JSONResponse({"error": {"code": "NotFound"}}, status_code=404)
        return self._graph_list(request, self.channels[team], 50)

    async def my_chats(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        return self._graph_list(request, self.chats, 50)

    # -- Dataverse: "$filter=modifiedon ge <t>", "$orderby=modifiedon asc", pages of odata.maxpagesize rows, the next
    # at "@odata.nextLink" ("$skiptoken=<offset>" here; a paging cookie in Dataverse, opaque either way).

    async def dataverse_rows(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        q = request.query_params
        if request.headers.get("odata-version") != "4.0" or request.headers.get("odata-maxversion") != "4.0":
            return JSONResponse({"error": {"code": "0x80060888", "message": "OData-Version"}}, status_code=400)
        match = re.fullmatch(r"modifiedon ge (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", q.get("$filter", ""))
        if match is None or q.get("$orderby") != "modifiedon asc":
            return JSONResponse({"error": {"code": "0x80060888", "message": "bad query"}}, status_code=400)
        entity_set = request.path_params["entity_set"]
        if entity_set not in self.dataverse:
            return JSONResponse({"error": {"code": "0x80060888", "message": "no such entity set"}}, status_code=404)
        rows = sorted(
            (r for r in self.dataverse[entity_set] if _t(r["modifiedon"]) >= _t(match[1])),
            key=lambda r: _t(r["modifiedon"]),
        )
        prefer = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("prefer", ""))
        size, offset = int(prefer[1]) if prefer else 5000, int(q.get("$skiptoken", "0"))
        body: dict[str, Any] = {"@odata.context": "$metadata#" + entity_set, "value": rows[offset : offset + size]}
        if offset + size < len(rows):
            query = f"$filter={q['$filter']}&$orderby={q['$orderby']}&$skiptoken={offset + size}".replace(" ", "%20")
            body["@odata.nextLink"] = f"{self.link_base or self.base}{request.url.path}?{query}"
        return JSONResponse(body)

    # -- Dropbox list_folder: cursors "<position>.<offset>": changes since a position of the log, or ("all") a
    # listing of what is there; every call a POST with a JSON body, as Dropbox's RPC endpoints take.

    dropbox_page_size: int = 2000

    def _dropbox_rows(self, position: str) -> list[dict[str, Any]]:
        latest: dict[str, dict[str, Any]] = {}
        for entry in self.dropbox_log[0 if position == "all" else int(position) :]:
            latest.pop(entry["path_lower"], None)  # a path changed again moves to the end, as its latest version
            latest[entry["path_lower"]] = entry
        rows = list(latest.values())
        return [e for e in rows if e[".tag"] != "deleted"] if position == "all" else rows

    def _dropbox_page(self, position: str, offset: int) -> Response:
        rows, size = self._dropbox_rows(position), self.dropbox_page_size
        more = offset + size < len(rows)
        cursor = f"{position}.{offset + size}" if more else f"{len(self.dropbox_log)}.0"
        return JSONResponse({"entries": rows[offset : offset + size], "cursor": cursor, "has_more": more})

    def _dropbox_arg(self, request: Request) -> dict[str, Any] | None:
        if request.headers.get("content-type") != "application/json":
            return None
        arg = json.loads(self.calls[-1].body)
        return arg if isinstance(arg, dict) else None

    async def dropbox_list_folder(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        arg = self._dropbox_arg(request)
        if arg is None or arg.get("recursive") is not True:
            return JSONResponse({"error_summary": "bad request"}, status_code=400)
        return self._dropbox_page("all", 0)

    async def dropbox_latest_cursor(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        arg = self._dropbox_arg(request)
        if arg is None or arg.get("recursive") is not True:
            return JSONResponse({"error_summary": "bad request"}, status_code=400)
        return JSONResponse({"cursor": f"{len(self.dropbox_log)}.0"})

    async def dropbox_continue(self, request: Request) -> Response:
        if (early := await self._gate(request)) is not None:
            return early
        arg = self._dropbox_arg(request)
        cursor = str((arg or {}).get("cursor", ""))
        if cursor in self.reset_cursors:
            return JSONResponse({"error_summary": "reset/..", "error": {".tag": "reset"}}, status_code=409)
        match = re.fullmatch(r"(all|\d+)\.(\d+)", cursor)
        if match is None:
            return JSONResponse({"error_summary": "other/..", "error": {".tag": "other"}}, status_code=400)
        return self._dropbox_page(match[1], int(match[2]))

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/services/data/{version}/query", self.soql),
                Route("/calendar/v3/calendars/{calendar}/events", self.calendar),
                Route("/drive/v3/changes/startPageToken", self.drive_start),
                Route("/drive/v3/changes", self.drive_changes),
                Route("/v4/spreadsheets/{sheet}/values/{range}", self.sheet_values),
                Route("/v1/leads", self.pipedrive_leads),
                Route("/v1/search", self.notion_search, methods=["POST"]),
                Route("/api/v2/{resource}", self.outreach_list),
                Route("/oauth/token", self.token, methods=["POST"]),
                Route("/me/mailFolders/{folder}/messages/delta", self.mail_delta),
                Route("/ex/jira/{cloud}/rest/api/3/search/jql", self.jira_search),
                Route("/opportunities", self.lever_opportunities),
                Route("/v3/company/{realm}/cdc", self.qbo_cdc),
                Route("/crm/v6/{module}", self.zoho_records),
                Route("/api.xro/2.0/{resource}", self.xero_list),
                Route("/api/v5/objects/{resource}", self.pardot_query),
                Route("/rest/v1/activities/pagingtoken.json", self.marketo_paging_token),
                Route("/rest/v1/activities.json", self.marketo_activities),
                Route("/identity/oauth/token", self.marketo_identity, methods=["POST"]),
                Route("/ex/jira/{cloud}/rest/api/3/auditing/record", self.jira_audit),
                Route("/postings", self.lever_postings),
                Route("/me/calendarView/delta", self.calendar_view_delta),
                Route("/sites/{site}/lists/{list}/items/delta", self.list_items_delta),
                Route("/sites/{site}/drive/root/delta", self.drive_delta),
                Route("/teams/{team}/channels", self.team_channels),
                Route("/me/chats", self.my_chats),
                Route("/api/data/v9.2/{entity_set}", self.dataverse_rows),
                Route("/2/files/list_folder", self.dropbox_list_folder, methods=["POST"]),
                Route("/2/files/list_folder/get_latest_cursor", self.dropbox_latest_cursor, methods=["POST"]),
                Route("/2/files/list_folder/continue", self.dropbox_continue, methods=["POST"]),
            ]
        )


def xero_ms(value: str) -> int:
    """Xero's ``/Date(<ms>+0000)/`` as milliseconds; any other form as the far future (always answered)."""
    match = re.fullmatch(r"/Date\((\d+)\+0000\)/", value)
    return int(match[1]) if match else 2**62


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()
