"""Event destinations: where a project's failure events go (a webhook, possibly in a vendor's shape, or email).

Importing this module registers the ``destination`` record kind in ``subscriptions.models.RECORD_TYPES``.
The URL of a webhook destination is a secret (a Slack incoming-webhook URL *is* a credential), and so
are header values (API keys): both are sealed at rest by the registry and never returned by the API.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from subscriptions.models import RECORD_TYPES, Record

EVENT_TYPES = (
    "workflow_failure",
    "credentials_failure",
    "delivery_exhausted",
    "destination_disabled",
    "verification_failures",
)
Template = Literal["webhook", "slack", "datadog", "newrelic", "sentry"]


class Destination(Record):
    """One destination of a project's events.

    - ``type: webhook`` with ``template``: ``webhook`` (``payload`` is a template over the event, default the
      whole event ``{{$.event}}``), or a vendor's shape: ``slack`` (``url`` = the incoming-webhook URL),
      ``datadog`` (``options.site``, header ``DD-API-KEY``), ``newrelic`` (``options.region`` us|eu, header
      ``Api-Key``), ``sentry`` (``url`` = the DSN, or the Ingest URL with the public key in header ``X-Sentry-Auth``;
      ``options.endpoint`` store|envelope).
    - ``type: email``: ``to`` addresses, sent through the SMTP server in the settings.
    ``event_types`` filters what is sent (empty: everything); ``auto_disable_after`` consecutive non-2xx
    deliveries disable the destination (default from the settings).
    """

    name: str = ""
    type: Literal["webhook", "email"] = "webhook"
    template: Template = "webhook"
    url: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    payload: str | None = None
    options: dict[str, str] = Field(default_factory=dict)
    to: list[str] = Field(default_factory=list)
    event_types: list[str] = Field(default_factory=list)
    enabled: bool = True
    auto_disable_after: int | None = Field(default=None, ge=1, le=10_000)

    @model_validator(mode="after")
    def _consistent(self) -> Destination:
        unknown = sorted(set(self.event_types) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
        if self.type == "email":
            if not self.to or not all("@" in a and len(a) <= 254 for a in self.to):
                raise ValueError("an email destination needs 'to': one or more email addresses")
        elif self.url is None and self.template != "datadog" and self.template != "newrelic":
            raise ValueError(f"a {self.template} destination needs 'url'")
        elif self.url is not None and not self.url.get_secret_value().startswith(("https://", "http://")):
            raise ValueError("'url' must be an http(s) URL")
        return self

    def wants(self, event_type: str) -> bool:
        return self.enabled and (not self.event_types or event_type in self.event_types)


RECORD_TYPES.update(destination=Destination)
