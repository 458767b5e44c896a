"""Notion: pages by ``last_edited_time``, newest first, through the search endpoint.

Docs: https://developers.notion.com/reference/post-search (``POST /v1/search`` with a ``filter`` on object
``page``, ``sort`` by ``last_edited_time`` descending, ``page_size`` up to 100 and ``start_cursor``; the answer's
``results``, ``has_more`` and ``next_cursor``) and https://developers.notion.com/reference/versioning (the
``Notion-Version`` header is required). Search cannot filter by time: pages go newest first and stop at the first
page older than the cursor. Notion rounds ``last_edited_time`` to the minute, so a new page's created and edited
times are equal.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_HEADERS = {"authorization": "Bearer {{credential.access_token}}", "notion-version": "2022-06-28"}
_SEARCH = {
    "filter": {"property": "object", "value": "page"},
    "sort": {"direction": "descending", "timestamp": "last_edited_time"},
    "page_size": 100,
}

PAGES = PollSpec(
    key="notion:pages",
    cursor="time",
    request=RequestTemplate(method="POST", url="{{api.base}}/v1/search", headers=_HEADERS, body=_SEARCH),
    page=RequestTemplate(
        method="POST",
        url="{{api.base}}/v1/search",
        headers=_HEADERS,
        body={**_SEARCH, "start_cursor": "{{poll.page}}"},
    ),
    records_path="results",
    version_path="last_edited_time",
    cursor_path="last_edited_time",
    next_page_path="next_cursor",
    events=(
        EventRule(event_type="page.created", path="created_time", same_time_as="last_edited_time", within_s=60),
        EventRule(event_type="page.updated"),
    ),
    base_url="https://api.notion.com",
)

SPECS: dict[str, dict[str, PollSpec]] = {"notion": {"Page Created": PAGES, "Page Updated": PAGES}}
