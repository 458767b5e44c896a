"""Outlook through Microsoft Graph delta queries: new messages in the inbox, created and updated calendar events.

Docs: https://learn.microsoft.com/en-us/graph/delta-query-messages and
https://learn.microsoft.com/en-us/graph/api/message-delta. ``GET /me/mailFolders/{id}/messages/delta`` answers
``value`` (messages; removed ones as ``@removed`` rows with only an ``id``) and either ``@odata.nextLink`` (more
pages of this round) or ``@odata.deltaLink`` (the round is over: the link that asks what changed since). Both are
full URLs that carry every query option of the first request, so they are used as they are (``poll.page_link``,
``poll.cursor_link``: on the API's own origin only). ``changeType=created`` in the first request keeps later rounds
to created messages; ``Prefer: odata.maxpagesize`` sets the page size (10 by default). An expired link answers 410
Gone: the poll starts over, paging through the folder again without firing. Throttling is 429 with Retry-After.

Events: https://learn.microsoft.com/en-us/graph/api/event-delta and
https://learn.microsoft.com/en-us/graph/delta-query-events. ``GET /me/calendarView/delta?startDateTime=&endDateTime=``
answers the events of a time range (single instances, and each occurrence and exception of a series) as messages
do, removed ones as ``@removed`` rows; its links keep the range of the first request. The range is one day back to
365 days ahead of when the round was opened, and 30 days on a new round opens from then (the old one read to its
end first, the new one paged through without firing), so the range always reaches 335 days ahead. An event is
Event Created when its ``createdDateTime`` is after the newest ``lastModifiedDateTime`` the pair's polls have read
(both Graph's clock; before any, when the previous poll began): no event read before was created that late, so this
poll is the first to find it. Any other row with a ``lastModifiedDateTime`` is Event Updated, once per
``lastModifiedDateTime`` (its delivery id's version). Outlook often changes an event moments after creating it (a
meeting link, a response), so created-equals-modified would miss new events; this rule does not. A recurring
series fires once per occurrence within the range, as the calendar view lists them.
"""

from __future__ import annotations

from typing import Any

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

GRAPH = "https://graph.microsoft.com/v1.0"
_MESSAGES = (
    "{{api.base}}/me/mailFolders/{{trigger.folder}}/messages/delta?changeType=created"
    "&%24select=subject,from,toRecipients,receivedDateTime,createdDateTime,lastModifiedDateTime,isRead,webLink"
)


def graph_delta(
    key: str, first: str, events: tuple[EventRule, ...], *, page_size: int, page_first: bool = True, **more: Any
) -> PollSpec:
    """A Graph delta query as a token poll: ``first`` opens a round (its pages followed when ``page_first``: a
    ``token=latest`` round has none), the delta link asks what changed since, 410 Gone starts over."""
    headers = {"authorization": "Bearer {{credential.access_token}}", "prefer": f"odata.maxpagesize={page_size}"}

    def get(url: str) -> RequestTemplate:
        return RequestTemplate(method="GET", url=url, headers=headers)

    return PollSpec(
        key=key,
        cursor="token",
        init=get(first),
        init_page=get("{{poll.page_link}}") if page_first else None,
        init_cursor_path="@odata.deltaLink",
        request=get("{{poll.cursor_link}}"),
        page=get("{{poll.page_link}}"),
        records_path="value",
        version_path="lastModifiedDateTime",
        cursor_path="@odata.deltaLink",
        next_page_path="@odata.nextLink",
        reset_statuses=(410,),
        events=events,
        base_url=GRAPH,
        **more,
    )


MESSAGES = graph_delta(
    "outlook:messages",
    _MESSAGES,
    (EventRule(event_type="message.created", path="createdDateTime"),),  # a removed row has no times
    page_size=50,
    params={"folder": "inbox"},
)

_CALENDAR = "{{api.base}}/me/calendarView/delta?startDateTime={{poll.window_start}}&endDateTime={{poll.window_end}}"
DAY = 86_400.0

EVENTS = graph_delta(
    "outlook:events",
    _CALENDAR,
    (
        EventRule(event_type="event.created", path="createdDateTime", since_last_poll=True),
        EventRule(event_type="event.updated", path="lastModifiedDateTime"),  # a removed row has no times
    ),
    page_size=50,
    window=(DAY, 365 * DAY),
    reopen_after_s=30 * DAY,
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "outlook": {"New Message": MESSAGES, "Event Created": EVENTS, "Event Updated": EVENTS},
}
