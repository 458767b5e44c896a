"""Marketo: leads added to a list, from the lead activity log.

Docs: https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/paging-tokens (``GET
/rest/v1/activities/pagingtoken.json?sinceDatetime=<ISO 8601>`` answers a ``nextPageToken`` that stands for that
time), https://experienceleague.adobe.com/en/docs/marketo-developer/marketo/rest/lead-database/activities (``GET
/rest/v1/activities.json?nextPageToken=&activityTypeIds=``: up to 300 activities a page, oldest first, in
``result``, with ``moreResult`` and the ``nextPageToken`` to ask next; activity type 24 is "Add to List", its list
in ``primaryAttributeValueId``; ``marketoGUID`` names an activity), .../rest/error-codes (errors come with HTTP 200,
``success: false`` and ``errors[].code``: 601 and 602 an invalid or expired token, 606, 607 and 615 rate and
concurrency limits) and .../rest/endpoint-url (each instance's REST endpoint, ``https://<munchkin
id>.mktorest.com/rest``: the credential's ``endpoint_url`` value).

The paging token is the cursor: the first poll asks for one at the current time and fires nothing; each poll then
reads activities from the token, page after page while ``moreResult`` is true, and keeps the ``nextPageToken`` of
the last page, which stands for where the log was read to. Each activity is stored once (``marketoGUID`` and its
``activityDate``).
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

ADD_TO_LIST = "24"
_AUTH = {"authorization": "Bearer {{credential.access_token}}"}
_ACTIVITIES = "{{api.base}}/v1/activities.json?activityTypeIds=" + ADD_TO_LIST + "&nextPageToken="

LIST_ADDITIONS = PollSpec(
    key="marketo:list-additions",
    cursor="token",
    init=RequestTemplate(
        method="GET", url="{{api.base}}/v1/activities/pagingtoken.json?sinceDatetime={{poll.now}}", headers=_AUTH
    ),
    init_cursor_path="nextPageToken",
    request=RequestTemplate(method="GET", url=_ACTIVITIES + "{{poll.cursor}}", headers=_AUTH),
    page=RequestTemplate(method="GET", url=_ACTIVITIES + "{{poll.page}}", headers=_AUTH),
    records_path="result",
    id_path="marketoGUID",
    version_path="activityDate",
    cursor_path="nextPageToken",
    next_page_path="nextPageToken",
    more_path="moreResult",
    error_path="errors.0.code",
    retryable_errors=("606", "607", "608", "615", "611"),
    unauthorized_errors=("601", "602"),
    events=(EventRule(event_type="list_membership.created", path="activityTypeId", equals=ADD_TO_LIST),),
    # No default: each instance is its own host, and a credential without its endpoint fails (``invalid_url``)
    # rather than send its token anywhere else.
    base_url="",
    base_url_value="endpoint_url",
)

SPECS: dict[str, dict[str, PollSpec]] = {"marketo": {"Lead Added to a List": LIST_ADDITIONS}}
