"""Provider-side webhook subscriptions as data: the requests that create, renew and delete one.

A ``SubscriptionSpec`` is a set of request templates plus where to read the subscription's id, secret
and expiry in the provider's answer. Templates hold ``{{namespace.name}}`` placeholders, filled from a
flat context built per (credential, spec):

- ``settings.webhookURL``: the URL the provider must call (user-level: it names the credential);
- ``credential.id``, ``credential.providerId`` and ``credential.<value>`` (the credential's sealed values);
- ``integration.id``, ``integration.type``, ``user.id``;
- ``trigger.<param>``: the spec's own ``params`` (a Graph resource, a list of event names);
- ``subscription.id``, ``subscription.clientState`` (a secret we generate), ``subscription.expirationDateTime``;
- ``api.<name>``: provider API base URLs (overridable: national clouds, tests).
- ``resource.base_url``, ``resource.id``: an API resource's, for its connections' subscriptions.

Rendering never evaluates anything: a placeholder is a key lookup, and a missing key is a TemplateError.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from subscriptions.errors import SubscriptionError

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+)\s*\}\}")
# Namespaces whose values are URLs themselves: inserted into a URL template as they are, not percent-encoded.
# ``poll.page_link`` / ``poll.cursor_link``: a provider's next and delta links (Graph's ``@odata.nextLink``), which
# the poller checks are on the API's own origin before they are used.
_URL_NAMESPACES = ("api.", "settings.", "resource.", "poll.page_link", "poll.cursor_link")

USER_LEVEL_PATH = "/webhook/triggers/connect/{{integration.type}}/{{integration.id}}?id={{credential.id}}"


class TemplateError(SubscriptionError, ValueError):
    """A placeholder names nothing in the context (a credential value the user never provided, say)."""

    reason = "template_error"


class RequestTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None  # JSON with placeholders in its strings; None: no body


class SubscriptionSpec(BaseModel):
    """How to manage one kind of provider subscription.

    ``key`` names the subscription kind: workflows whose triggers resolve to specs with one key share one
    subscription per credential. ``lifetime_s`` is the expiry we ask for (``subscription.expirationDateTime``);
    a subscription is renewed once less than a third of its lifetime, or ``renew_margin_s``, is left.
    ``client_state``: generate a random secret, offer it as ``subscription.clientState`` and keep it as the
    subscription's verification secret (Microsoft Graph). ``secret_path``: read the secret from the answer.
    Paths are dotted keys into the JSON answer (``webhook.secret``); ``header:<name>`` reads a header.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    create: RequestTemplate
    id_path: str = "id"
    secret_path: str | None = None
    expiry_path: str | None = None
    client_state: bool = False
    delete: RequestTemplate | None = None
    renew: RequestTemplate | None = None
    lifetime_s: float | None = Field(default=None, gt=0)
    renew_margin_s: float = Field(default=3600.0, ge=0)
    webhook_path: str = USER_LEVEL_PATH
    params: dict[str, str] = Field(default_factory=dict)


def _lookup(context: Mapping[str, str], name: str) -> str:
    try:
        return context[name]
    except KeyError:
        raise TemplateError(f"template names {{{{{name}}}}}, which is not set") from None


def render_text(text: str, context: Mapping[str, str], *, url: bool = False) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = _lookup(context, name)
        # Path and query values are percent-encoded so an id cannot add path segments or parameters.
        return value if not url or name.startswith(_URL_NAMESPACES) else quote(value, safe="")

    return _PLACEHOLDER.sub(fill, text)


def render_json(value: Any, context: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return render_text(value, context)
    if isinstance(value, dict):
        return {render_text(str(k), context): render_json(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_json(v, context) for v in value]
    return value


def render(template: RequestTemplate, context: Mapping[str, str]) -> tuple[str, str, dict[str, str], bytes | None]:
    """(method, url, headers, body) with every placeholder filled; raises TemplateError."""
    url = render_text(template.url, context, url=True)
    headers = {k: render_text(v, context) for k, v in template.headers.items()}
    body = None
    if template.body is not None:
        body = json.dumps(render_json(template.body, context), separators=(",", ":")).encode()
        headers.setdefault("content-type", "application/json")
    return template.method, url, headers, body


def read_path(data: Any, headers: Mapping[str, str], path: str) -> str | None:
    """A dotted path into the JSON answer, or ``header:<name>``; None when absent or not a scalar."""
    if path.startswith("header:"):
        return headers.get(path[len("header:") :])
    if isinstance(data, dict) and path in data:
        data = data[path]  # a member whose name holds dots (OData's "@odata.deltaLink")
        return str(data) if isinstance(data, str | int | float) and not isinstance(data, bool) else None
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isascii() and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    if isinstance(data, str | int | float) and not isinstance(data, bool):
        return str(data)
    return None


def parse_expiry(value: str) -> float | None:
    """Unix seconds from an ISO 8601 timestamp (Graph sends seven fractional digits) or a number."""
    try:
        return float(value)
    except ValueError:
        pass
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())  # datetime takes at most microseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(ts: float) -> str:
    """Unix seconds as the ISO 8601 UTC form providers expect (``2024-01-01T00:00:00.000000Z``)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
