"""Jira Cloud: issues and their comments by ``updated`` through JQL search; projects from the audit log.

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

Comments: Jira lists no comments across issues, but a comment updates its issue, so the same search with the
``comment`` field reads the issues changed since the cursor (which follows the issues' ``updated``), and each comment
there created or edited at or after it is an event ``{"comment", "issue"}`` (as Jira's ``comment_created`` webhook
carries them); the search answers the comments it holds for an issue (the field's ``maxResults``), so an issue given
more comments than that between two polls has its oldest new ones missed.

Projects: a project has no creation or change time in the API; the audit log has both (``GET
/rest/api/3/auditing/record?from=&filter=&offset=&limit=``, newest first, up to 1000 a page; ``summary`` "Project
created" / "Project updated", the project in ``objectItem``; https://developer.atlassian.com/cloud/jira/platform/rest/
v3/api-group-audit-records/, which needs the Administer Jira permission: the ``manage:jira-configuration`` scope the
platform asks for these triggers). ``from`` is the second of the newest record read, so that second is read again
(each record stored once), and pages follow by ``offset`` while they are full.
"""

from __future__ import annotations

from subscriptions.polling.spec import Children, EventRule, PollSpec
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

_COMMENT_SEARCH = (
    "{{api.base}}/ex/jira/{{credential.cloud_id}}/rest/api/3/search/jql"
    "?jql={{trigger.jql}}&fields=summary,project,created,updated,comment&maxResults=100"
)
COMMENTS = ISSUES.model_copy(
    update={
        "key": "jira:comments",
        "request": RequestTemplate(method="GET", url=_COMMENT_SEARCH, headers=_AUTH),
        "page": RequestTemplate(method="GET", url=_COMMENT_SEARCH + "&nextPageToken={{poll.page}}", headers=_AUTH),
        "children": Children(path="fields.comment.comments", time_path="updated", as_="comment", parent_as="issue"),
        "id_path": "comment.id",
        "version_path": "comment.updated",
        "events": (
            EventRule(event_type="comment.created", path="comment.created", same_time_as="comment.updated", within_s=0),
            EventRule(event_type="comment.updated"),
        ),
    }
)

_AUDIT = "{{api.base}}/ex/jira/{{credential.cloud_id}}/rest/api/3/auditing/record?from={{poll.cursor}}&filter=project"
PROJECTS = PollSpec(
    key="jira:projects",
    cursor="time",
    cursor_format="iso_z",
    request=RequestTemplate(method="GET", url=_AUDIT + "&limit=1000", headers=_AUTH),
    page=RequestTemplate(method="GET", url=_AUDIT + "&limit=1000&offset={{poll.page}}", headers=_AUTH),
    first_page=0,
    page_step=1000,
    records_path="records",
    id_path="id",
    version_path="created",
    cursor_path="created",
    page_size=1000,
    events=(
        EventRule(event_type="project.created", path="summary", equals="Project created"),
        EventRule(event_type="project.updated", path="summary", equals="Project updated"),
    ),
    base_url="https://api.atlassian.com",
)

SPECS: dict[str, dict[str, PollSpec]] = {
    "jira": {
        "New Issue": ISSUES,
        "Issue Updated": ISSUES,
        "New Comment": COMMENTS,
        "Project Created": PROJECTS,
        "Project Updated": PROJECTS,
    }
}
