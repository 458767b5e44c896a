"""Jira Cloud: issues by ``updated`` through JQL search.

Docs: https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/ (``GET
/rest/api/3/search/jql``: ``jql``, ``fields``, ``maxResults`` up to 100 and ``nextPageToken``; the answer's
``issues``, ``nextPageToken`` and ``isLast``), https://support.atlassian.com/jira-software-cloud/docs/jql-fields/
(``updated``: minute precision; a date literal is read in the Jira user's time zone, a relative one such as
``-5m`` is not), https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/ (OAuth apps call
``https://api.atlassian.com/ex/jira/{cloudid}``: the credential's ``cloud_id``) and
https://developer.atlassian.com/cloud/jira/platform/rate-limiting/ (429 with Retry-After).

JQL compares to the minute, so each poll asks for ``updated >= -<n>m``: the minutes since the cursor plus the one it
falls in, oldest first, and pages on while there is a next page. The overlap is read again and each issue is
stored once per ``updated`` value (its delivery id's version): an issue changed again is a new event. A new issue's
``created`` and ``updated`` are the same instant.
"""

from __future__ import annotations

from subscriptions.polling.spec import EventRule, PollSpec
from subscriptions.providers.spec import RequestTemplate

_AUTH = {"authorization": "Bearer {{credential.access_token}}", "accept": "application/json"}
_SEARCH = (
    "{{api.base}}/ex/jira/{{credential.cloud_id}}/rest/api/3/search/jql"
    "?jql={{trigger.jql}}&fields=summary,status,issuetype,project,created,updated&maxResults=100"
)

ISSUES = PollSpec(
    key="jira:issues",
    cursor="time",
    request=RequestTemplate(method="GET", url=_SEARCH, headers=_AUTH),
    page=RequestTemplate(method="GET", url=_SEARCH + "&nextPageToken={{poll.page}}", headers=_AUTH),
    records_path="issues",
    id_path="id",
    version_path="fields.updated",
    cursor_path="fields.updated",
    next_page_path="nextPageToken",
    newest_first=False,
    page_size=100,
    events=(
        EventRule(event_type="issue.created", path="fields.created", same_time_as="fields.updated", within_s=0),
        EventRule(event_type="issue.updated"),
    ),
    base_url="https://api.atlassian.com",
    params={"jql": "updated >= -{{poll.since_minutes}}m ORDER BY updated ASC"},
)

SPECS: dict[str, dict[str, PollSpec]] = {"jira": {"New Issue": ISSUES, "Issue Updated": ISSUES}}
