"""Dropbox: placeholder, replaced below."""

from __future__ import annotations

from subscriptions.polling.spec import PollSpec

SPECS: dict[str, dict[str, PollSpec]] = {}
