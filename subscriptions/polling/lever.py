"""Lever: candidates (opportunities) and job postings by ``updatedAt``.

Docs: https://hire.lever.co/developer/documentation#list-all-opportunities (``GET /v1/opportunities`` with
``updated_at_start`` in Unix milliseconds, ``limit`` 1 to 100 and ``offset``: the answer's ``data``, ``hasNext`` and
``next``, the offset of the next page), https://hire.lever.co/developer/documentation#pagination and
https://hire.lever.co/developer/documentation#rate-limits (429; requests are asked again after a wait). OAuth apps
call ``https://api.lever.co/v1`` with ``Authorization: Bearer``.

Lever names no order for the list, so a poll pages through every page (``newest_first`` false) and the cursor is
the newest ``updatedAt`` read, asked again with ``>=``: an opportunity read twice is stored once per ``updatedAt``.
A new opportunity's ``createdAt`` and ``updatedAt`` are the same millisecond, give or take a second.

Postings: https://hire.lever.co/developer/documentation#list-all-postings (``GET /v1/postings`` with the same
``updated_at_start``, ``limit``, ``offset`` and answer), read the same way; a new posting's ``createdAt`` and
``updatedAt`` agree to the second.

Lever's webhooks (``candidateStageChange``, ``applicationCreated``, ...) carry other events than these triggers, so
a Lever integration that receives webhooks is polled as well, and nothing fires twice.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_AUTH = {"authorization": "Bearer {{credential.access_token}}"}
_LIST = "{{api.base}}/opportunities?updated_at_start={{poll.cursor}}&limit=100"

OPPORTUNITIES = PollSpec(
    key="lever:opportunities",
    cursor="time",
    cursor_format="epoch_ms",
    request=RequestTemplate(method="GET", url=_LIST, headers=_AUTH),
    page=RequestTemplate(method="GET", url=_LIST + "&offset={{poll.page}}", headers=_AUTH),
    records_path="data",
    id_path="id",
    version_path="updatedAt",
    cursor_path="updatedAt",
    next_page_path="next",
    newest_first=False,
    page_size=100,
    events=(
        # Times in milliseconds: within_s counts them as the units they are (1000: one second).
        EventRule(event_type="candidate.created", path="createdAt", same_time_as="updatedAt", within_s=1000),
        EventRule(event_type="candidate.updated"),
    ),
    base_url="https://api.lever.co/v1",
)

_POSTINGS = "{{api.base}}/postings?updated_at_start={{poll.cursor}}&limit=100"
POSTINGS = OPPORTUNITIES.model_copy(
    update={
        "key": "lever:postings",
        "request": RequestTemplate(method="GET", url=_POSTINGS, headers=_AUTH),
        "page": RequestTemplate(method="GET", url=_POSTINGS + "&offset={{poll.page}}", headers=_AUTH),
        "events": (
            EventRule(event_type="posting.created", path="createdAt", same_time_as="updatedAt", within_s=1000),
            EventRule(event_type="posting.updated"),
        ),
    }
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "lever": {
        "Candidate Created": OPPORTUNITIES,
        "Candidate Updated": OPPORTUNITIES,
        "Posting Created": POSTINGS,
        "Posting Updated": POSTINGS,
    }
}
