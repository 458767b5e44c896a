"""Pardot (Account Engagement API v5): new prospects and list memberships, by ``createdAt``.

Docs: https://developer.salesforce.com/docs/marketing/pardot/guide/version5overview.html (``GET
/api/v5/objects/<object>?fields=...``: ``fields`` is required; ``limit`` up to 1000; ``orderBy``; filters such as
``createdAtAfterOrEqualTo``; the answer's ``values`` and ``nextPageUrl``, a full URL that carries the query on, with
nothing else allowed beside its token; times in ISO 8601 with an offset, which a URL must percent-encode),
https://developer.salesforce.com/docs/marketing/pardot/guide/prospect-v5.html,
https://developer.salesforce.com/docs/marketing/pardot/guide/list-membership-v5.html and
https://developer.salesforce.com/docs/marketing/pardot/guide/authentication.html (a Salesforce OAuth token, and the
``Pardot-Business-Unit-Id`` header on every call: the credential's ``business_unit_id`` value).

The triggers are creations, so the filter is ``createdAt`` at or after the cursor, oldest first, and every page is
read through ``nextPageUrl`` (on the API's own origin only): a bulk import of any size within one second is read
(up to ``max_pages``), and the next poll asks again from the newest ``createdAt`` read, storing that second's records
once. Account Engagement signals its rate limits in the body of a 4xx (codes 66, 122), not with 429.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_HEADERS = {
    "authorization": "Bearer {{credential.access_token}}",
    "pardot-business-unit-id": "{{credential.business_unit_id}}",
}


def _spec(key: str, resource: str, fields: str, event_type: str) -> PollSpec:
    url = (
        "{{api.base}}/api/v5/objects/" + resource + "?fields=" + fields + "&createdAtAfterOrEqualTo={{poll.cursor}}"
        "&orderBy=createdAt%20ASC,id%20ASC&limit=1000"
    )
    return PollSpec(
        key=key,
        cursor="time",
        request=RequestTemplate(method="GET", url=url, headers=_HEADERS),
        page=RequestTemplate(method="GET", url="{{poll.page_link}}", headers=_HEADERS),
        records_path="values",
        id_path="id",
        version_path="createdAt",
        cursor_path="createdAt",
        next_page_path="nextPageUrl",
        newest_first=False,
        page_size=1000,
        events=(EventRule(event_type=event_type),),
        base_url="https://pi.pardot.com",
    )


SPECS: dict[str, dict[str, PollSpec]] = {
    "pardot": {
        "Prospect Created": _spec(
            "pardot:prospects", "prospects", "id,email,firstName,lastName,createdAt,updatedAt", "prospect.created"
        ),
        "List Membership Created": _spec(
            "pardot:list-memberships",
            "list-memberships",
            "id,listId,prospectId,optedOut,createdAt,updatedAt",
            "list_membership.created",
        ),
    }
}
