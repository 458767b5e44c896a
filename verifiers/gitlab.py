"""GitLab webhooks (project, group and system hooks).

Docs: https://docs.gitlab.com/user/project/integrations/webhooks/#create-a-webhook ("Secret token")

GitLab signs nothing: the hook's secret token is sent as ``X-Gitlab-Token`` and compared here in constant
time with every active secret. No timestamp; ``X-Gitlab-Event-UUID`` (``X-Gitlab-Webhook-UUID`` on older
versions) names the delivery. Event type: the body's ``object_kind`` (``push``, ``merge_request``) with
``object_attributes.action`` when present (``merge_request.open``); tenant: ``project.id``, else the group.
"""

from __future__ import annotations

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._families import header_token

verify, sign = header_token("x-gitlab-token")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind, action = first(dig(data, "object_kind"), dig(data, "event_name")), dig(data, "object_attributes", "action")
    tenant = first(dig(data, "project", "id"), dig(data, "project_id"), dig(data, "group", "group_id"))
    delivery = request.header("x-gitlab-event-uuid") or request.header("x-gitlab-webhook-uuid") or ""
    return [EventInfo(tenant, f"{kind}.{action}" if kind and action else kind, delivery)]


PROVIDER = register(Provider("gitlab", verify, extract=extract, sign=sign))
