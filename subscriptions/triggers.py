"""Integration triggers: which workflow trigger a provider event type fires, and which triggers exist.

A Workflow with ``trigger_type: integration`` names its trigger one of three ways:
- a trigger name of its integration type's catalog (``subscriptions/trigger_catalog.py`` for webhooks,
  ``subscriptions/polled_catalog.py`` for polled integrations), e.g. "Channel Message Sent" for Slack: fired by the
  event types the catalog maps it to;
- ``event:<type>``: fired by exactly that provider event type, as ``verifiers.extract`` reports it;
- ``*``: fired by every event of the integration.
Anything else is rejected when the config is loaded (``check``), never silently left unfired.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from subscriptions.polled_catalog import POLLED, POLLED_COARSE
from subscriptions.trigger_catalog import COARSE, TRIGGERS

EVENT_PREFIX = "event:"
ANY = "*"


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    # Only "*" is special (any run of characters); fnmatch would also give "[" and "?" a meaning.
    alternatives = (".*".join(re.escape(part) for part in pattern.split("*")) for pattern in patterns)
    return re.compile("|".join(f"(?:{alt})" for alt in alternatives))


# Webhook triggers and polled ones in one table; an integration in both (Pipedrive's Lead Created is polled, its
# other events are webhooks) keeps its webhook names first.
_ALL: dict[str, dict[str, tuple[str, ...]]] = {
    kind: {**POLLED.get(kind, {}), **TRIGGERS.get(kind, {})} for kind in sorted({*TRIGGERS, *POLLED})
}
_COARSE: dict[str, frozenset[str]] = {
    kind: COARSE.get(kind, frozenset()) | POLLED_COARSE.get(kind, frozenset()) for kind in _ALL
}

_MATCHERS: dict[tuple[str, str], re.Pattern[str]] = {
    (integration_type, name): _compile(patterns)
    for integration_type, triggers in _ALL.items()
    for name, patterns in triggers.items()
}


def catalog_types() -> list[str]:
    """Integration types that have named triggers (webhook or polled)."""
    return sorted(kind for kind, names in _ALL.items() if names)


def trigger_names(integration_type: str) -> list[str]:
    """The named triggers of an integration type, in the platform's order; [] when it has none."""
    return list(_ALL.get(integration_type, {}))


def event_patterns(integration_type: str, trigger: str) -> tuple[str, ...]:
    """The event type patterns that fire a named trigger; () when the name is not in the catalog."""
    return _ALL.get(integration_type, {}).get(trigger, ())


def is_coarse(integration_type: str, trigger: str) -> bool:
    """Whether the provider's events cannot tell this trigger from its siblings (see the catalog)."""
    return trigger in _COARSE.get(integration_type, frozenset())


def matches(integration_type: str, trigger: str, event_type: str) -> bool:
    """Whether a workflow trigger of an integration of ``integration_type`` fires for ``event_type``."""
    if trigger == ANY:
        return True
    if trigger.startswith(EVENT_PREFIX):
        return trigger[len(EVENT_PREFIX) :] == event_type
    matcher = _MATCHERS.get((integration_type, trigger))
    return matcher is not None and matcher.fullmatch(event_type) is not None


def check(integration_type: str, trigger: str) -> str | None:
    """Why ``trigger`` is not a valid integration trigger for ``integration_type``, or None when it is."""
    if trigger == ANY or (trigger.startswith(EVENT_PREFIX) and len(trigger) > len(EVENT_PREFIX)):
        return None
    if trigger.startswith(EVENT_PREFIX):
        return f"trigger {trigger!r} names no event type; write 'event:<provider event type>'"
    names = trigger_names(integration_type)
    if trigger in names:
        return None
    if not names:
        return (
            f"unknown trigger {trigger!r}: integration type {integration_type!r} has no named triggers; "
            f"use '*' or 'event:<provider event type>'"
        )
    valid = ", ".join(repr(n) for n in names)
    return (
        f"unknown trigger {trigger!r} for integration type {integration_type!r}; valid triggers: {valid}, "
        f"or '*', or 'event:<provider event type>'"
    )
