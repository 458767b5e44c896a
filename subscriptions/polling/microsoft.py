"""Outlook through Microsoft Graph delta queries: new messages in the inbox.

Docs: https://learn.microsoft.com/en-us/graph/delta-query-messages and
https://learn.microsoft.com/en-us/graph/api/message-delta. ``GET /me/mailFolders/{id}/messages/delta`` answers
``value`` (messages; removed ones as ``@removed`` rows with only an ``id``) and either ``@odata.nextLink`` (more
pages of this round) or ``@odata.deltaLink`` (the round is over: the link that asks what changed since). Both are
full URLs that carry every query option of the first request, so they are used as they are (``poll.page_link``,
``poll.cursor_link``: on the API's own origin only). ``changeType=created`` in the first request keeps later rounds
to created messages; ``Prefer: odata.maxpagesize`` sets the page size (10 by default). An expired link answers 410
Gone: the poll starts over, paging through the folder again without firing. Throttling is 429 with Retry-After.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_HEADERS = {"authorization": "Bearer {{credential.access_token}}", "prefer": "odata.maxpagesize=50"}
_MESSAGES = (
    "{{api.base}}/me/mailFolders/{{trigger.folder}}/messages/delta?changeType=created"
    "&%24select=subject,from,toRecipients,receivedDateTime,createdDateTime,lastModifiedDateTime,isRead,webLink"
)


def _get(url: str) -> RequestTemplate:
    return RequestTemplate(method="GET", url=url, headers=_HEADERS)


MESSAGES = PollSpec(
    key="outlook:messages",
    cursor="token",
    init=_get(_MESSAGES),
    init_page=_get("{{poll.page_link}}"),
    init_cursor_path="@odata.deltaLink",
    request=_get("{{poll.cursor_link}}"),
    page=_get("{{poll.page_link}}"),
    records_path="value",
    version_path="lastModifiedDateTime",
    cursor_path="@odata.deltaLink",
    next_page_path="@odata.nextLink",
    reset_statuses=(410,),
    events=(EventRule(event_type="message.created", path="createdDateTime"),),  # a removed row has no times
    base_url="https://graph.microsoft.com/v1.0",
    params={"folder": "inbox"},
)

SPECS: dict[str, dict[str, PollSpec]] = {"outlook": {"New Message": MESSAGES}}
