"""Zoho CRM (records changed since, by ``If-Modified-Since``), Pipedrive's Lead Created (newest first), Outreach.

Docs: https://www.zoho.com/crm/developer/docs/api/v6/get-records.html (``GET /crm/v6/{module}`` with ``fields``,
``sort_by=Modified_Time``, ``sort_order=asc``, ``per_page`` up to 200 and the ``If-Modified-Since`` header;
``Authorization: Zoho-oauthtoken <token>``; the answer's ``data`` holds the records, 304 or 204 when none
changed; the base URL is the data center's ``api_domain`` the token answer names) and
https://developers.pipedrive.com/docs/api/v1/Leads#getLeads (``GET /v1/leads?sort=add_time DESC&start&limit``;
``additional_data.pagination.next_start`` while there are more; the base URL is the token answer's
``api_domain``). Pipedrive cannot filter leads by time: pages go newest first and stop at the first lead older
than the cursor.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_ZOHO_RECORDS = (
    "{{api.base}}/crm/v6/{{trigger.module}}?fields={{trigger.fields}}&sort_by=Modified_Time&sort_order=asc&per_page=200"
)
ZOHO = PollSpec(
    key="zohocrm:records",
    cursor="time",
    request=RequestTemplate(
        method="GET",
        url=_ZOHO_RECORDS,
        headers={
            "authorization": "Zoho-oauthtoken {{credential.access_token}}",
            "if-modified-since": "{{poll.cursor}}",
        },
    ),
    records_path="data",
    version_path="Modified_Time",
    cursor_path="Modified_Time",
    page_size=200,
    events=(
        EventRule(event_type="record.created", path="Created_Time", same_time_as="Modified_Time"),
        EventRule(event_type="record.updated"),
    ),
    base_url="https://www.zohoapis.com",
    base_url_value="api_domain",
    params={"module": "Leads", "fields": "id,Created_Time,Modified_Time"},
)

_BEARER = {"authorization": "Bearer {{credential.access_token}}"}
_LEADS = "{{api.base}}/v1/leads?limit=100&sort=add_time%20DESC"
PIPEDRIVE_LEADS = PollSpec(
    key="pipedrive:leads",
    cursor="time",
    request=RequestTemplate(method="GET", url=_LEADS, headers={"authorization": "Bearer {{credential.access_token}}"}),
    page=RequestTemplate(
        method="GET",
        url=_LEADS + "&start={{poll.page}}",
        headers={"authorization": "Bearer {{credential.access_token}}"},
    ),
    records_path="data",
    version_path="add_time",
    cursor_path="add_time",
    next_page_path="additional_data.pagination.next_start",
    events=(EventRule(event_type="added.lead"),),  # the event type Pipedrive's v1 webhooks give a new lead
    base_url="https://api.pipedrive.com",
    base_url_value="api_domain",
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "zohocrm": {"New Record": ZOHO, "Record Updated": ZOHO},
    "pipedrive": {"Lead Created": PIPEDRIVE_LEADS},
}


# Outreach (JSON:API): https://developers.outreach.io/api/making-requests/ (filter[updatedAt]=<from>..inf, sort,
# page[size] up to 1000; records under "data", times under "attributes"). Oldest first, asked again from the newest.
def _outreach(resource: str) -> PollSpec:
    url = (
        "{{api.base}}/api/v2/" + resource + "?filter%5BupdatedAt%5D={{poll.cursor}}..inf&sort=updatedAt"
        "&page%5Bsize%5D=100"
    )
    singular = {"opportunities": "opportunity"}.get(resource, resource.removesuffix("s"))  # the catalog's names
    return PollSpec(
        key=f"outreach:{resource}",
        cursor="time",
        cursor_format="iso_z",
        request=RequestTemplate(method="GET", url=url, headers=_BEARER),
        records_path="data",
        version_path="attributes.updatedAt",
        cursor_path="attributes.updatedAt",
        page_size=100,
        events=(
            EventRule(
                event_type=f"{singular}.created", path="attributes.createdAt", same_time_as="attributes.updatedAt"
            ),
            EventRule(event_type=f"{singular}.updated"),
        ),
        base_url="https://api.outreach.io",
    )


_ACCOUNTS, _OPPORTUNITIES, _PROSPECTS = _outreach("accounts"), _outreach("opportunities"), _outreach("prospects")
SPECS["outreach"] = {
    "New Account": _ACCOUNTS,
    "Account Updated": _ACCOUNTS,
    "New Opportunity": _OPPORTUNITIES,
    "Opportunity Updated": _OPPORTUNITIES,
    "New Prospect": _PROSPECTS,
    "Prospect Updated": _PROSPECTS,
}
