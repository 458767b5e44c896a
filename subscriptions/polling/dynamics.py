"""Dynamics 365 CRM (Dataverse Web API): rows of a table created or changed since the cursor.

Docs: https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/query-data-web-api (``GET
{org}/api/data/v9.2/<entity set>?$filter=&$orderby=``; ``Prefer: odata.maxpagesize=<n>`` pages the answer, the
next page at ``@odata.nextLink``, a full URL that keeps the query), .../webapi/compose-http-requests-handle-errors
(``OData-MaxVersion`` / ``OData-Version`` 4.0 headers; 429 with Retry-After under the service protection limits)
and https://learn.microsoft.com/en-us/power-apps/developer/data-platform/reference/entities/account (``createdon``,
``modifiedon``: UTC, to the second; the key column ``<table>id``).

Each organization has its own URL, so the integration's ``options.api_base_url`` names it
(``https://<org>.crm.dynamics.com``); without it the poll fails rather than guess. The table is the workflow's
``trigger_params``: ``entitySet`` (``accounts`` by default) and its key column ``idField`` (``accountid``). A poll
asks for rows with ``modifiedon ge <cursor>``, oldest first, and pages on while there is a next link; the cursor
is the newest ``modifiedon`` read, asked again with ``ge`` (a row read twice is stored once per ``modifiedon``).

The platform names no Dynamics 365 CRM trigger, so workflows take ``*`` or ``event:record.created`` /
``event:record.updated``. A row created after the cursor (where the previous poll left off, in Dataverse's
clock) is created, the first poll to find it (plug-ins and flows often change a row moments after it is created,
so created-equals-modified would miss it); any other is updated.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_HEADERS = {
    "authorization": "Bearer {{credential.access_token}}",
    "accept": "application/json",
    "odata-maxversion": "4.0",
    "odata-version": "4.0",
    "prefer": "odata.maxpagesize=100",
}
_ROWS = (
    "{{api.base}}/api/data/v9.2/{{trigger.entitySet}}"
    "?%24filter=modifiedon%20ge%20{{poll.cursor}}&%24orderby=modifiedon%20asc"
)

ROWS = PollSpec(
    key="microsoft-dynamics-365:rows",
    cursor="time",
    cursor_format="iso_z",
    request=RequestTemplate(method="GET", url=_ROWS, headers=_HEADERS),
    page=RequestTemplate(method="GET", url="{{poll.page_link}}", headers=_HEADERS),
    records_path="value",
    id_path="{{trigger.idField}}",
    version_path="modifiedon",
    cursor_path="modifiedon",
    next_page_path="@odata.nextLink",
    newest_first=False,
    events=(
        EventRule(event_type="record.created", path="createdon", since_last_poll=True),
        EventRule(event_type="record.updated"),
    ),
    base_url="",  # the organization's URL: options.api_base_url, always
    params={"entitySet": "accounts", "idField": "accountid"},
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "microsoft-dynamics-365": {"*": ROWS, "event:record.created": ROWS, "event:record.updated": ROWS},
}
