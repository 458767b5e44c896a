"""Which provider events fire each named integration trigger: data, not code.

Keys are integration types (``Integration.type``, the verifier provider names of ``verifiers.providers()``);
trigger names are the platform's, verbatim, for every webhook-based integration of its trigger catalog
(``reference/platform-triggers.json``: mode "webhook" or "mixed", and Trello). The values are the event
types ``verifiers.extract(...)`` yields for that provider; ``*`` in a pattern matches any run of characters
(``*.created`` matches Close's ``lead.created`` and ``activity.note.created``), nothing else is special.

An event may fire several triggers of one integration when they overlap on purpose (completing an Asana
task is also an update of it). ``COARSE`` names the triggers the provider's notification cannot tell apart:
they all fire on the same events and the workflow has to look closer itself.

Polling-based integrations (Salesforce, Google Calendar, Outlook, Jira, Notion, ...) are in
``subscriptions/polled_catalog.py``: the router's poller fires their triggers.
"""

from __future__ import annotations

from typing import Final

# A Slack message event is refined by extract to message.<channels|groups|im|mpim>[.<subtype>]; these
# subtypes are new messages (the others are edits, deletions, joins, ...).
_SLACK_NEW = ("", ".bot_message", ".file_share", ".thread_broadcast", ".me_message")


def _slack_sent(*scopes: str) -> tuple[str, ...]:
    return tuple(f"message.{scope}{subtype}" for scope in scopes for subtype in _SLACK_NEW)


_GITHUB_ISSUE_UPDATES = (
    *("edited", "closed", "reopened", "assigned", "unassigned", "labeled", "unlabeled", "milestoned"),
    *("demilestoned", "locked", "unlocked", "pinned", "unpinned", "transferred", "typed", "untyped"),
)
_GITHUB_PR_UPDATES = (
    *("edited", "closed", "reopened", "synchronize", "assigned", "unassigned", "labeled", "unlabeled"),
    *("milestoned", "demilestoned", "locked", "unlocked", "ready_for_review", "converted_to_draft"),
    *("review_requested", "review_request_removed", "auto_merge_enabled", "auto_merge_disabled"),
    *("enqueued", "dequeued"),
)

TRIGGERS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    # https://developers.asana.com/docs/webhooks-guide: events name resource_type and action; extract adds
    # the changed field (task.changed.completed) and a story's subtype (story.added.comment_added). Asana
    # does not say which way "completed" changed: marking a task incomplete again fires Task Completed too.
    "asana": {
        "New Task": ("task.added",),
        "Task Updated": ("task.changed", "task.changed.*"),
        "Task Completed": ("task.changed.completed",),
        "Task Deleted": ("task.deleted",),
        "Tag Added": ("tag.added",),
        "New Project": ("project.added",),
        "New Comment": ("story.added.comment_added",),
    },
    # https://developer.calendly.com/api-docs/webhook-subscriptions: payload "event".
    "calendly": {
        "Invitee Created": ("invitee.created",),
        "Invitee Canceled": ("invitee.canceled",),
    },
    # https://clickup.com/api/developer-portal/webhooktaskpayloads/: payload "event".
    "clickup": {
        "New Folder Created": ("folderCreated",),
        "Folder Updated": ("folderUpdated",),
        "New List Created": ("listCreated",),
        "List Updated": ("listUpdated",),
        "New Space Created": ("spaceCreated",),
        "Space Updated": ("spaceUpdated",),
        "New Task Created": ("taskCreated",),
        "Task Updated": ("taskUpdated",),
    },
    # https://developer.close.com/topics/webhooks/: event.object_type + event.action, any object.
    "close": {
        "Record Created": ("*.created",),
        "Record Updated": ("*.updated",),
        "Record Deleted": ("*.deleted",),
    },
    # https://developers.docusign.com/platform/webhooks/connect/event-triggers/: JSON "event".
    "docusign": {
        "Envelope Sent": ("envelope-sent",),
        "Envelope Delivered": ("envelope-delivered",),
        "Envelope Signed/Completed": ("envelope-completed",),
        "Envelope Declined": ("envelope-declined",),
        "Recipient Sent": ("recipient-sent",),
        "Recipient Signed/Completed": ("recipient-completed",),
        "Recipient Declined": ("recipient-declined",),
    },
    # Business Central webhooks: value[].changeType ("collection", over 1,000 changes, fires none).
    "dynamicsbusinesscentral": {
        "Record Created": ("created",),
        "Record Updated": ("updated",),
        "Record Deleted": ("deleted",),
    },
    # https://docs.github.com/en/webhooks/webhook-events-and-payloads: X-GitHub-Event "." action.
    "github": {
        "Issue Created": ("issues.opened",),
        "Issue Updated": tuple(f"issues.{a}" for a in _GITHUB_ISSUE_UPDATES),
        "PR Created": ("pull_request.opened",),
        "PR Updated": tuple(f"pull_request.{a}" for a in _GITHUB_PR_UPDATES),
        "Project Created": ("projects_v2.created",),
        "Project Updated": ("projects_v2.edited", "projects_v2.closed", "projects_v2.reopened"),
        "Project Created (Classic)": ("project.created",),
        "Project Updated (Classic)": ("project.edited", "project.closed", "project.reopened"),
        "Project Item Created": ("projects_v2_item.created",),
        "Project Item Updated": (
            "projects_v2_item.edited",
            "projects_v2_item.archived",
            "projects_v2_item.restored",
            "projects_v2_item.converted",
            "projects_v2_item.reordered",
        ),
    },
    # https://developers.google.com/gmail/api/guides/push: a push says only that the mailbox's history
    # advanced ("history"); which threads changed, and how, takes a history.list call.
    "gmail": {
        "New Thread Created": ("history",),
        "Thread Updated": ("history",),
        "Thread Modified": ("history",),
    },
    # https://developers.greenhouse.io/webhooks.html: payload "action".
    "greenhouse": {
        "Candidate Created": ("new_candidate_application", "new_prospect_application"),
        "Candidate Updated": ("update_candidate",),
        "Job Created": ("job_created",),
        "Job Updated": ("job_updated",),
    },
    # https://developers.hubspot.com/docs/api/webhooks: subscriptionType per event, any CRM object.
    "hubspot": {
        "New Record": ("*.creation",),
        "Record Updated": ("*.propertyChange",),
        "Record Deleted": ("*.deletion",),
        "Record Deleted for Privacy (GDPR)": ("*.privacyDeletion",),
    },
    # https://developers.intercom.com/docs/references/webhooks/webhook-models: "topic".
    "intercom": {
        "Company Created": ("company.created",),
        "Company Updated": ("company.updated",),
        "Contact Created": ("contact.user.created", "contact.lead.created", "contact.created", "user.created"),
        "Contact Updated": ("contact.user.updated", "contact.lead.updated"),
    },
    # https://developers.linear.app/docs/graphql/webhooks: type "." action; extract adds which of state and
    # labels an Issue update changed (Issue.update.labels.state when both).
    "linear": {
        "Issue Created": ("Issue.create",),
        "Issue Status Updated": ("Issue.update*.state",),
        "Label Added or Removed from Issue": ("Issue.update.labels", "Issue.update.labels.*"),
        "Issue Deleted": ("Issue.remove",),
    },
    # https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/: form field "type".
    "mailchimp": {
        "Mailchimp Lists": ("subscribe", "unsubscribe", "profile", "upemail", "cleaned", "campaign"),
    },
    # https://developer.monday.com/api-reference/reference/webhooks: event.type.
    "monday": {
        "Item Created": ("create_pulse",),
        "Item Updated": ("update_column_value", "update_name", "change_column_value", "change_name"),
    },
    # Graph change notifications on a driveItem: changeType "updated" is the only one OneDrive sends;
    # lifecycle notifications (reauthorizationRequired, ...) fire nothing.
    "onedrive": {
        "File Change": ("updated",),
    },
    # https://pipedrive.readme.io/docs/guide-for-webhooks-v2: v1 "event" (added.lead), v2 meta action.entity.
    "pipedrive": {
        "Lead Created": ("added.lead", "create.lead"),
    },
    # https://developers.salesloft.com/docs/platform/webhooks/: x-salesloft-event.
    "salesloft": {
        "New Person Created": ("person_created",),
        "Person Updated": ("person_updated",),
        "New Account Created": ("account_created",),
        "Account Updated": ("account_updated",),
    },
    # https://shopify.dev/docs/api/webhooks: X-Shopify-Topic (note orders/updated but customers/update).
    "shopify": {
        "New Order": ("orders/create",),
        "Order Updated": ("orders/updated",),
        "New Customer": ("customers/create",),
        "Customer Updated": ("customers/update",),
        "New Product": ("products/create",),
        "Product Updated": ("products/update",),
        "Customer data request": ("customers/data_request",),
        "Customer data erasure": ("customers/redact",),
        "Shop data erasure": ("shop/redact",),
    },
    # https://api.slack.com/events: Events API event.type (messages refined by channel_type and subtype);
    # interactivity payload "type" for Message Interaction.
    "slack": {
        "Direct Message Created": ("im_created",),
        "Channel Created": ("channel_created",),
        "Direct Message Sent": _slack_sent("im"),
        "File Deleted": ("file_deleted",),
        "Group Message Sent": _slack_sent("groups", "mpim"),
        "Channel Message Sent": _slack_sent("channels"),
        "Direct Message Updated": ("message.im.message_changed",),
        "Group Message Updated": ("message.groups.message_changed", "message.mpim.message_changed"),
        "Channel Message Updated": ("message.channels.message_changed",),
        "App Mentioned": ("app_mention",),
        "New Message Reaction": ("reaction_added",),
        "Message Reaction Removed": ("reaction_removed",),
        "Message Interaction": ("block_actions", "interactive_message", "message_action"),
    },
    # https://developer.atlassian.com/cloud/trello/guides/rest-api/webhooks/: action.type.
    "trello": {
        "Board Created": ("createBoard",),
        "Board Updated": ("updateBoard",),
        "Card Created": ("createCard",),
        "Card Updated": ("updateCard",),
        "New Comment": ("commentCard",),
    },
    # https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/: "type".
    "zendesk": {
        "New Ticket": ("zen:event-type:ticket.created",),
        "Ticket Updated": (
            "zen:event-type:ticket.*_changed",
            "zen:event-type:ticket.comment_added",
            "zen:event-type:ticket.merged",
            "zen:event-type:ticket.marked_as_spam",
        ),
    },
    # https://developers.zoom.us/docs/api/webhooks/: payload "event".
    "zoom": {
        "New Meeting": ("meeting.created",),
        "Meeting Updated": ("meeting.updated",),
        "Meeting Ended": ("meeting.ended",),
        "New Meeting Registrant": ("meeting.registration_created",),
        "Meeting Participant Joined": ("meeting.participant_joined",),
        "Meeting Participant Left": ("meeting.participant_left",),
        "New Recording": ("recording.started",),
        "Complete Recording": ("recording.completed",),
        "Recording Transcript Completed": ("recording.transcript_completed",),
    },
}

COARSE: Final[dict[str, frozenset[str]]] = {
    "gmail": frozenset({"New Thread Created", "Thread Updated", "Thread Modified"}),
}
