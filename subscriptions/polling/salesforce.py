"""Salesforce: SOQL queries on ``LastModifiedDate`` / ``CreatedDate`` through the REST API's query resource.

Docs: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm and
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm

``GET {instance_url}/services/data/vXX.X/query?q=<SOQL>`` answers ``{"totalSize", "done", "records": [...]}``;
each record has ``Id`` and the system fields. The base URL is the credential's ``instance_url`` (the OAuth token
answer names it). Queries ask past the cursor (seconds, ``YYYY-MM-DDThh:mm:ssZ``, SOQL's dateTime literal) in
(time, ``Id``) order, ``LIMIT 200``: ``t > cursor OR (t = cursor AND Id > after)``, a keyset on the last record
read, so a page of records changed in one second goes on past them (bulk updates do that). New and updated
records of one object share one poll: created equals last modified on a record nobody changed since.
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
        tie_break=True,
        tie_break_floor="000000000000000",  # below every Id ('0' sorts first); SOQL refuses '' as an Id
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
    "SELECT FIELDS(STANDARD) FROM {{trigger.object}} WHERE "
    "(LastModifiedDate > {{poll.cursor}} OR (LastModifiedDate = {{poll.cursor}} AND Id > '{{poll.after_id}}')) "
    "ORDER BY LastModifiedDate ASC, Id ASC LIMIT 200",
    "LastModifiedDate",
    _CHANGED,
    {"object": "Contact"},
)
_CAMPAIGN_MEMBERS = _spec(
    "salesforce:campaign-members",
    "SELECT FIELDS(STANDARD) FROM CampaignMember WHERE "
    "(CreatedDate > {{poll.cursor}} OR (CreatedDate = {{poll.cursor}} AND Id > '{{poll.after_id}}')) "
    "ORDER BY CreatedDate ASC, Id ASC LIMIT 200",
    "CreatedDate",
    (EventRule(event_type="campaign_member.created"),),
    {},
)
_CAMPAIGN_OPPORTUNITIES = _spec(
    "salesforce:campaign-opportunities",
    "SELECT FIELDS(STANDARD) FROM Opportunity WHERE CampaignId != null AND "
    "(CreatedDate > {{poll.cursor}} OR (CreatedDate = {{poll.cursor}} AND Id > '{{poll.after_id}}')) "
    "ORDER BY CreatedDate ASC, Id ASC LIMIT 200",
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
