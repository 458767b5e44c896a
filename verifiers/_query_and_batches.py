"""Helpers for providers that put a secret or a challenge in the URL's query (Graph, Business Central,
Mailchimp, Gmail, Dropbox) and for those that batch notifications (Xero, QuickBooks, Mandrill, ...).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from verifiers._core import HandshakeReply

# Challenge echoes are attacker-controlled text: serve them inert.
PLAIN_TEXT = {"content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff"}


def query_values(url: str, name: str) -> list[str]:
    """Every value of the query parameter ``name`` in ``url``, percent- and ``+``-decoded."""
    try:
        pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    except ValueError:  # e.g. an unbalanced "[" in the netloc
        return []
    return [value for key, value in pairs if key == name]


def echo(text: str) -> HandshakeReply:
    return HandshakeReply(200, dict(PLAIN_TEXT), text.encode("utf-8", "replace"))


def event_json(event: Any) -> bytes:
    """One event of a split batch, re-encoded compactly as the router stores it."""
    return json.dumps(event, separators=(",", ":")).encode()
