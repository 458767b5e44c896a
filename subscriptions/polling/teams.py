"""Microsoft Teams through Microsoft Graph lists: channels created, chats created and updated.

Docs: https://learn.microsoft.com/en-us/graph/api/channel-list (``GET /teams/{team-id}/channels``: every channel of
a team, each with ``createdDateTime``; no order or time filter) and https://learn.microsoft.com/en-us/graph/api/chat-list
(``GET /me/chats``: ``$top`` up to 50, ``@odata.nextLink`` while there are more; ``$orderby`` only on the last
message's time, descending; no filter on ``lastUpdatedDateTime``, the time a chat was renamed or its members
changed). Neither list has a delta, so each poll pages through the list (at most ``max_pages`` pages: 500 chats)
and keeps what changed since its cursor, the newest time it has read; a record read again is the same delivery.

- Channel Created: channels created at or after the cursor (one read again at the cursor is stored once). The
  team is the workflow's ``trigger_params.teamId``, else the credential's ``team_id``.
- Chat Created / Chat Updated: a chat created after the cursor (where the previous poll left off) is created,
  the first poll to find it (a new group chat's members are added moments after it is, so created-equals-updated
  would miss it); any other chat whose ``lastUpdatedDateTime`` moved past the cursor is updated, once per
  ``lastUpdatedDateTime``.

Throttling is 429 with Retry-After, as everywhere in Graph.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_AUTH = {"authorization": "Bearer {{credential.access_token}}"}


def _get(url: str) -> RequestTemplate:
    return RequestTemplate(method="GET", url=url, headers=_AUTH)


def _listed(key: str, url: str, field: str, events: tuple[EventRule, ...], params: dict[str, str]) -> PollSpec:
    return PollSpec(
        key=key,
        cursor="time",
        request=_get(url),
        page=_get("{{poll.page_link}}"),
        records_path="value",
        version_path=field,
        cursor_path=field,
        next_page_path="@odata.nextLink",
        newest_first=False,  # no order: every page is read
        events=events,
        base_url="https://graph.microsoft.com/v1.0",
        params=params,
    )


CHANNELS = _listed(
    "microsoft-teams:channels",
    "{{api.base}}/teams/{{trigger.teamId}}/channels",
    "createdDateTime",
    (EventRule(event_type="channel.created"),),
    {"teamId": "{{credential.team_id}}"},
)
CHATS = _listed(
    "microsoft-teams:chats",
    "{{api.base}}/me/chats?%24top=50",
    "lastUpdatedDateTime",
    (
        EventRule(event_type="chat.created", path="createdDateTime", since_last_poll=True),
        EventRule(event_type="chat.updated"),
    ),
    {},
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "microsoft-teams": {"Channel Created": CHANNELS, "Chat Created": CHATS, "Chat Updated": CHATS},
}
