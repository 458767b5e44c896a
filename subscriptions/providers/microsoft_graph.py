"""Microsoft Graph change-notification subscriptions (Outlook, OneDrive, SharePoint, Teams).

Docs: https://learn.microsoft.com/graph/api/subscription-post-subscriptions and
https://learn.microsoft.com/graph/change-notifications-delivery-webhooks

Create: ``POST /subscriptions`` with changeType, notificationUrl, resource, expirationDateTime and a
clientState we generate (every notification echoes it; the ``microsoft_graph`` verifier checks it).
Graph validates notificationUrl synchronously with a ``validationToken`` request, which the receiver
answers. Renew: ``PATCH /subscriptions/{id}`` with a new expirationDateTime. Delete: ``DELETE``.
Subscriptions lapse: the maximum lifetime depends on the resource (60 minutes to under 30 days); we ask
for 4,230 minutes (under three days), which every resource used here accepts, and renew when a third is left.
"""

from __future__ import annotations

from subscriptions.providers.spec import RequestTemplate, SubscriptionSpec

LIFETIME_S = 4230 * 60.0

_AUTH = {"authorization": "Bearer {{credential.access_token}}"}
_CREATE = RequestTemplate(
    method="POST",
    url="{{api.graph}}/subscriptions",
    headers=_AUTH,
    body={
        "changeType": "{{trigger.changeType}}",
        "notificationUrl": "{{settings.webhookURL}}",
        "resource": "{{trigger.resource}}",
        "expirationDateTime": "{{subscription.expirationDateTime}}",
        "clientState": "{{subscription.clientState}}",
    },
)
_RENEW = RequestTemplate(
    method="PATCH",
    url="{{api.graph}}/subscriptions/{{subscription.id}}",
    headers=_AUTH,
    body={"expirationDateTime": "{{subscription.expirationDateTime}}"},
)
_DELETE = RequestTemplate(method="DELETE", url="{{api.graph}}/subscriptions/{{subscription.id}}", headers=_AUTH)


def graph(integration_type: str, resource: str, change_type: str) -> SubscriptionSpec:
    return SubscriptionSpec(
        key=f"{integration_type}:{resource}:{change_type}",
        create=_CREATE,
        renew=_RENEW,
        delete=_DELETE,
        id_path="id",
        expiry_path="expirationDateTime",
        client_state=True,
        lifetime_s=LIFETIME_S,
        params={"resource": resource, "changeType": change_type},
    )


_INBOX = "me/mailFolders('Inbox')/messages"
_DRIVE = "me/drive/root"
_SITE_LIST = "sites/{{credential.site_id}}/lists/{{credential.list_id}}"
_SITE_DRIVE = "sites/{{credential.site_id}}/drive/root"

# integration type → trigger name ("*": any other trigger of that integration) → spec.
SPECS: dict[str, dict[str, SubscriptionSpec]] = {
    "outlook": {
        "New Message": graph("outlook", _INBOX, "created"),
        "Event Created": graph("outlook", "me/events", "created"),
        "Event Updated": graph("outlook", "me/events", "updated"),
    },
    "onedrive": {"*": graph("onedrive", _DRIVE, "updated")},  # driveItem supports "updated" only
    "sharepoint": {
        "Item Created": graph("sharepoint", _SITE_LIST, "updated"),  # list subscriptions: "updated" only
        "Item Updated": graph("sharepoint", _SITE_LIST, "updated"),
        "*": graph("sharepoint", _SITE_DRIVE, "updated"),
    },
    "microsoft-teams": {
        "Channel Created": graph("microsoft-teams", "teams/getAllChannels", "created"),
        "Chat Created": graph("microsoft-teams", "chats", "created"),
        "Chat Updated": graph("microsoft-teams", "chats", "updated"),
    },
}
