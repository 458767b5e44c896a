"""ClickUp webhooks: a subscription that returns its own signing secret.

Docs: https://clickup.com/api/clickupreference/operation/CreateWebhook/

Create: ``POST /team/{team_id}/webhook`` with the endpoint and the events; the answer carries
``webhook.id`` and ``webhook.secret``, the HMAC key of that webhook's ``X-Signature``. The workspace
(team) id is the credential's provider ID. Delete: ``DELETE /webhook/{id}``. ClickUp webhooks do not expire.
"""

from __future__ import annotations

from subscriptions.providers.spec import RequestTemplate, SubscriptionSpec

_AUTH = {"authorization": "Bearer {{credential.access_token}}"}

WORKSPACE = SubscriptionSpec(
    key="clickup:workspace",
    create=RequestTemplate(
        method="POST",
        url="{{api.clickup}}/team/{{credential.providerId}}/webhook",
        headers=_AUTH,
        body={"endpoint": "{{settings.webhookURL}}", "events": ["*"]},
    ),
    delete=RequestTemplate(method="DELETE", url="{{api.clickup}}/webhook/{{subscription.id}}", headers=_AUTH),
    id_path="webhook.id",
    secret_path="webhook.secret",  # noqa: S106 - a path into the answer, not a secret
)

SPECS: dict[str, dict[str, SubscriptionSpec]] = {"clickup": {"*": WORKSPACE}}
