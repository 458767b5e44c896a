"""SharePoint through Microsoft Graph delta queries: list items created and updated, pages modified, files deleted.

Docs: https://learn.microsoft.com/en-us/graph/api/listitem-delta (``GET /sites/{site-id}/lists/{list-id}/items/delta``)
and https://learn.microsoft.com/en-us/graph/api/driveitem-delta (``GET /sites/{site-id}/drive/root/delta``). Both
answer ``value`` and ``@odata.nextLink`` / ``@odata.deltaLink``, as every Graph delta does; ``token=latest`` on the
first request answers no items and a delta link from now, so a first poll reads no history. Removed items carry a
``deleted`` facet. An expired link answers 410 Gone: the poll starts over from now.

The site and list come from the workflow's ``trigger_params`` (``siteId``, ``listId``: Graph's ids, or a list's
title), else from the credential's ``site_id`` and ``list_id``, the values its Graph subscription names.

- Item Created / Item Updated: the list's items. An item created after the newest ``lastModifiedDateTime`` the
  pair's polls have read (before any, when the previous poll began) is created, the first poll to find it
  (SharePoint sets an item's fields moments after creating it, so created-equals-modified would miss it); any other
  is updated, once per ``lastModifiedDateTime``.
- Page Modified: the items of the site's pages library (``pagesList``, "Site Pages" by default): a page created,
  edited or published is modified, once per ``lastModifiedDateTime``.
- File Deleted: the site drive's items with a ``deleted`` facet (Graph does not always say whether a removed item
  was a file or a folder: both fire).
"""

from __future__ import annotations

from subscriptions.polling.microsoft import graph_delta
from subscriptions.polling.spec import EventRule, PollSpec

_SITE = {"siteId": "{{credential.site_id}}"}


def _delta(key: str, first: str, events: tuple[EventRule, ...], params: dict[str, str]) -> PollSpec:
    # token=latest: the first round answers no items, only a delta link from now.
    return graph_delta(key, first + "&token=latest", events, page_size=200, page_first=False, params=params)


_ITEMS_URL = "{{api.base}}/sites/{{trigger.siteId}}/lists/{{trigger.listId}}/items/delta?%24expand=fields"
ITEMS = _delta(
    "sharepoint:items",
    _ITEMS_URL,
    (
        EventRule(event_type="item.created", path="createdDateTime", since_last_poll=True),
        EventRule(event_type="item.updated", path="lastModifiedDateTime"),  # a removed item has no times
    ),
    {**_SITE, "listId": "{{credential.list_id}}"},
)
PAGES = _delta(
    "sharepoint:pages",
    "{{api.base}}/sites/{{trigger.siteId}}/lists/{{trigger.pagesList}}/items/delta?%24expand=fields",
    (EventRule(event_type="page.updated", path="lastModifiedDateTime"),),
    {**_SITE, "pagesList": "Site Pages"},
)
FILES = _delta(
    "sharepoint:files",
    "{{api.base}}/sites/{{trigger.siteId}}/drive/root/delta?%24select=id,name,deleted,file,folder,parentReference",
    (EventRule(event_type="file.deleted", path="deleted", exists=True),),
    dict(_SITE),
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "sharepoint": {"Item Created": ITEMS, "Item Updated": ITEMS, "Page Modified": PAGES, "File Deleted": FILES},
}
