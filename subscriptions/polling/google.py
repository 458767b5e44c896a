"""Google Calendar (``syncToken``), Google Drive (``changes.list``) and Google Sheets (new rows).

Docs: https://developers.google.com/calendar/api/guides/sync (incremental sync: the last page of a list
carries ``nextSyncToken``; a list with ``syncToken`` returns what changed since, deleted events as
``status: cancelled``; 410 Gone means the token expired: sync fully again),
https://developers.google.com/drive/api/guides/manage-changes (``changes.getStartPageToken``, then
``changes.list?pageToken=``: ``nextPageToken`` while there is more, ``newStartPageToken`` on the last page),
https://developers.google.com/sheets/api/reference/rest/v4/spreadsheets.values/get (``values``: the rows).

All take ``Authorization: Bearer <access token>``; expired tokens answer 401, and the poller refreshes them.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_AUTH = {"authorization": "Bearer {{credential.access_token}}"}
_EVENTS = "{{api.base}}/calendar/v3/calendars/{{trigger.calendarId}}/events?maxResults=250"


def _get(url: str) -> RequestTemplate:
    return RequestTemplate(method="GET", url=url, headers=_AUTH)


CALENDAR = PollSpec(
    key="google-calendar:events",
    cursor="token",
    init=_get(_EVENTS),
    init_page=_get(_EVENTS + "&pageToken={{poll.page}}"),
    init_cursor_path="nextSyncToken",
    request=_get(_EVENTS + "&syncToken={{poll.cursor}}"),
    page=_get(_EVENTS + "&syncToken={{poll.cursor}}&pageToken={{poll.page}}"),
    records_path="items",
    version_path="updated",
    cursor_path="nextSyncToken",
    next_page_path="nextPageToken",
    reset_statuses=(410,),
    events=(
        EventRule(event_type="event.cancelled", path="status", equals="cancelled"),
        # A new event's created and updated times differ by milliseconds.
        EventRule(event_type="event.created", path="created", same_time_as="updated"),
        EventRule(event_type="event.updated"),
    ),
    base_url="https://www.googleapis.com",
    params={"calendarId": "primary"},
)

_CHANGES = (
    "{{api.base}}/drive/v3/changes?pageSize=100&fields=nextPageToken,newStartPageToken,"
    "changes(fileId,removed,time,file(id,name,mimeType,trashed,createdTime,modifiedTime))&pageToken="
)
DRIVE = PollSpec(
    key="google-drive:changes",
    cursor="token",
    init=_get("{{api.base}}/drive/v3/changes/startPageToken"),
    init_cursor_path="startPageToken",
    request=_get(_CHANGES + "{{poll.cursor}}"),
    page=_get(_CHANGES + "{{poll.page}}"),
    records_path="changes",
    id_path="fileId",
    version_path="time",
    cursor_path="newStartPageToken",
    next_page_path="nextPageToken",
    events=(
        EventRule(event_type="file.deleted", path="removed", true=True),
        EventRule(event_type="file.deleted", path="file.trashed", true=True),
        EventRule(event_type="file.created", path="file.createdTime", same_time_as="file.modifiedTime"),
        EventRule(event_type="file.updated"),
    ),
    base_url="https://www.googleapis.com",
)

SHEET_ROWS = PollSpec(
    key="google-sheets:rows",
    cursor="rows",
    request=_get("{{api.base}}/v4/spreadsheets/{{trigger.spreadsheetId}}/values/{{trigger.range}}"),
    records_path="values",
    events=(EventRule(event_type="row.created"),),
    base_url="https://sheets.googleapis.com",
    params={"spreadsheetId": "", "range": "A:ZZ"},
)

_NEW_SHEETS = (
    "{{api.base}}/drive/v3/files?pageSize=100&orderBy=createdTime&fields=nextPageToken,"
    "files(id,name,createdTime,modifiedTime)&q={{trigger.q}}"
)
NEW_SHEETS = PollSpec(
    key="google-sheets:files",
    cursor="time",
    cursor_format="iso_z",
    request=_get(_NEW_SHEETS),
    page=_get(_NEW_SHEETS + "&pageToken={{poll.page}}"),
    records_path="files",
    version_path="createdTime",
    cursor_path="createdTime",
    next_page_path="nextPageToken",
    events=(EventRule(event_type="file.created"),),
    base_url="https://www.googleapis.com",
    params={"q": "mimeType='application/vnd.google-apps.spreadsheet' and createdTime >= '{{poll.cursor}}'"},
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "google-calendar": {
        "New Event": CALENDAR,
        "Event Updated": CALENDAR,
        "Event Cancelled": CALENDAR,
    },
    "google-drive": {"File Created": DRIVE, "File Updated": DRIVE, "File Deleted": DRIVE},
    "google-sheets": {"File Created": NEW_SHEETS, "File Updated": SHEET_ROWS},
}
