"""Salesforce: SOQL queries on ``LastModifiedDate`` / ``CreatedDate`` through the REST API's query resource.

Docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm and
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm

``GET {instance_url}/services/data/vXX.X/query?q=<SOQL>`` answers ``{"totalSize", "done", "records": [...]}``;
each record has ``Id`` and the system fields. The base URL is the credential's ``instance_url`` (the OAuth token
answer names it). Queries ask ``>=`` the cursor (seconds, ``YYYY-MM-DDThh:mm:ssZ``, SOQL's dateTime literal),
oldest first, ``LIMIT 200``; a full page is asked again from its newest record. New and updated records of one
object share one poll: created equals last modified on a record nobody changed since.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

API_VERSION = "v59.0"
_AUTH = {"authorization": "Bearer {{credential.access_token}}"}
_QUERY = RequestTemplate(
    method="GET", url="{{api.base}}/services/data/" + API_VERSION + "/query?q={{trigger.soql}}", headers=_AUTH
)


def _spec(key: str, soql: str, field: str, events: tuple[EventRule, ...], params: dict[str, str]) -> PollSpec:
    return PollSpec(
        key=key,
        cursor="time",
        cursor_format="iso_z",
        request=_QUERY,
        records_path="records",
        id_path="Id",
        version_path=field,
        cursor_path=field,
        page_size=200,
        events=events,
        base_url="https://login.salesforce.com",
        base_url_value="instance_url",
        params={"soql": soql, **params},
    )


_CHANGED = (
    EventRule(event_type="record.created", path="LastModifiedDate", same_time_as="CreatedDate"),
    EventRule(event_type="record.updated"),
)
_RECORDS = _spec(
    "salesforce:records",
    "SELECT FIELDS(STANDARD) FROM {{trigger.object}} WHERE LastModifiedDate >= {{poll.cursor}} "
    "ORDER BY LastModifiedDate ASC LIMIT 200",
    "LastModifiedDate",
    _CHANGED,
    {"object": "Contact"},
)
_CAMPAIGN_MEMBERS = _spec(
    "salesforce:campaign-members",
    "SELECT FIELDS(STANDARD) FROM CampaignMember WHERE CreatedDate >= {{poll.cursor}} "
    "ORDER BY CreatedDate ASC LIMIT 200",
    "CreatedDate",
    (EventRule(event_type="campaign_member.created"),),
    {},
)
_CAMPAIGN_OPPORTUNITIES = _spec(
    "salesforce:campaign-opportunities",
    "SELECT FIELDS(STANDARD) FROM Opportunity WHERE CampaignId != null AND CreatedDate >= {{poll.cursor}} "
    "ORDER BY CreatedDate ASC LIMIT 200",
    "CreatedDate",
    (EventRule(event_type="campaign_opportunity.created"),),
    {},
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "salesforce": {
        "New Record": _RECORDS,
        "Record Updated": _RECORDS,
        "Campaign Member Added": _CAMPAIGN_MEMBERS,
        "Campaign Opportunity Added": _CAMPAIGN_OPPORTUNITIES,
    }
}
