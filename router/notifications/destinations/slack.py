"""Slack destinations: a failure event as a Block Kit message posted to an incoming webhook.

``destination.url`` is the incoming-webhook URL (``https://hooks.slack.com/services/...``). That URL is
itself the credential, so it is never put in an error message. ``options["base_url"]`` replaces its
scheme and host (an egress proxy; a loopback server in tests), keeping the path.

The message (Slack's Block Kit reference, https://docs.slack.dev/reference/block-kit/blocks):
- ``text``: the fallback Slack shows in notifications and in clients that cannot render blocks;
- a ``header`` block (plain text, at most 150 characters) with the event type;
- a ``section`` with the event's message;
- a ``section`` with ``fields`` (at most 10, 2,000 characters each): project, integration, workflow, user;
- a ``section`` with the error in a code block, cut to fit a section's 3,000 characters;
- a ``section`` with a link to ``data.executionUrl`` when the event has one. A mrkdwn link rather than a
  button: a link button still sends an interaction payload to the app, and an incoming webhook's app
  usually has no request URL to acknowledge it, which makes Slack flag the click as failed.
- a ``context`` line with the event's time.

Event text is untrusted: in mrkdwn ``&``, ``<`` and ``>`` are escaped (Slack's rule), so an error text
cannot forge a link or a mention, and triple backticks cannot close the code block early.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from router.notifications.destinations.webhook import (
    CONTENT_TYPE_JSON,
    Rendered,
    RenderError,
    base_url,
    check_url,
    dumps,
    encode,
    field,
    merge_headers,
    request_headers,
    text,
)
from subscriptions.destinations import Destination

__all__ = ["HEADER_MAX_CHARS", "SECTION_MAX_CHARS", "URL_PREFIX", "message", "render"]

URL_PREFIX = "https://hooks.slack.com/"
HEADER_MAX_CHARS = 150
SECTION_MAX_CHARS = 3000
FIELD_MAX_CHARS = 2000
FALLBACK_MAX_CHARS = 3000  # `text` may be far longer; a notification shows a line or two
LINK_MAX_CHARS = 3000
TITLES = {
    "workflow_failure": "Workflow failure",
    "credentials_failure": "Credential failure",
    "delivery_exhausted": "Delivery exhausted",
    "destination_disabled": "Destination disabled",
    "verification_failures": "Verification failures",
}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(value: str) -> str:
    """Slack's mrkdwn escaping: the three characters that start links, mentions and entities."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(value: str, limit: int) -> str:
    """``value`` in at most ``limit`` characters, marked with an ellipsis when shortened."""
    if len(value) <= limit:
        return value
    # Never end inside an entity: "&am" would show as text.
    return _PARTIAL_ENTITY.sub("", value[: limit - 1]) + "\u2026"


def title(event: Mapping[str, Any]) -> str:
    kind = text(event, "type")
    return TITLES.get(kind) or (kind.replace("_", " ").capitalize() if kind else "Event")


def _fields(event: Mapping[str, Any]) -> list[dict[str, str]]:
    project = text(event, "project", "name") or text(event, "project", "id")
    integration = text(event, "integration", "type") or text(event, "integration", "id")
    workflow = text(event, "workflow", "name") or text(event, "workflow", "id")
    user = text(event, "user", "id")
    labelled = [("Project", project), ("Integration", integration), ("Workflow", workflow), ("User", user)]
    return [
        {"type": "mrkdwn", "text": cut(f"*{label}*\n{escape(value)}", FIELD_MAX_CHARS)}
        for label, value in labelled
        if value
    ]


def _error_block(event: Mapping[str, Any]) -> dict[str, Any] | None:
    error = text(event, "data", "error")
    if not error:
        return None
    # A zero-width space between backticks keeps an error's own ``` from closing the code block.
    body = escape(error).replace("```", "`\u200b`\u200b`")
    frame = "*Error*\n```\n{}\n```"
    room = SECTION_MAX_CHARS - len(frame.format(""))
    return {"type": "section", "text": {"type": "mrkdwn", "text": frame.format(cut(body, room))}}


def _link_block(event: Mapping[str, Any]) -> dict[str, Any] | None:
    url = field(event, "data", "executionUrl")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        return None
    # Inside <url|label>, '|' and '>' end the URL and whitespace breaks it: percent-encode them.
    safe = escape(quote(url, safe="/:?#[]@!$&'()*+,;=%-._~"))
    if len(safe) > LINK_MAX_CHARS:
        return None
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"<{safe}|View the execution>"}}


def message(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Block Kit message for ``event``."""
    heading = title(event)
    summary = text(event, "message").strip() or heading  # Slack refuses a blank section
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": cut(heading, HEADER_MAX_CHARS), "emoji": False}},
        {"type": "section", "text": {"type": "mrkdwn", "text": cut(escape(summary), SECTION_MAX_CHARS)}},
    ]
    fields = _fields(event)
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.extend(block for block in (_error_block(event), _link_block(event)) if block is not None)
    when = text(event, "timestampISO")
    if when:
        context = f"hookrouter \u00b7 {escape(when)}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(context, SECTION_MAX_CHARS)}]})
    return {"text": cut(escape(f"{heading}: {summary}"), FALLBACK_MAX_CHARS), "blocks": blocks}


def render(destination: Destination, event: Mapping[str, Any], *, now: float) -> Rendered:
    if destination.url is None:
        raise RenderError("a slack destination needs 'url': the incoming-webhook URL")
    url = destination.url.get_secret_value()
    if not url.startswith(URL_PREFIX) or len(url) <= len(URL_PREFIX):
        raise RenderError(f"url must be a Slack incoming-webhook URL ({URL_PREFIX}...)")
    check_url(url, "url")
    parts = urlsplit(url)
    target = base_url(destination, f"{parts.scheme}://{parts.netloc}") + parts.path
    if parts.query:
        target += "?" + parts.query
    headers = merge_headers(request_headers(destination), {"Content-Type": CONTENT_TYPE_JSON})
    return Rendered(target, headers, encode(dumps(message(event))))
