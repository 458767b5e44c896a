"""Telegram Bot API webhooks.

Docs: https://core.telegram.org/bots/api#setwebhook (``secret_token``)

Telegram signs nothing: the ``secret_token`` given to ``setWebhook`` (1-256 characters ``A-Za-z0-9_-``) is
sent as ``X-Telegram-Bot-Api-Secret-Token`` and compared in constant time. No timestamp; ``update_id`` is
unique per update and repeats on redelivery. Event type: the update's kind, the one field beside
``update_id`` (``message``, ``callback_query``, ...); tenant: the chat (``message.chat.id``) when there is one.
"""

from __future__ import annotations

from typing import Any

from verifiers._core import EventInfo, Provider, Request, register
from verifiers._extract import dig, first, loads
from verifiers._families import header_token

verify, sign = header_token("x-telegram-bot-api-secret-token")


def _kind(data: Any) -> str:
    if not isinstance(data, dict):
        return ""
    return next((key for key in data if key != "update_id" and isinstance(data[key], dict)), "")


def extract(request: Request) -> list[EventInfo]:
    data = loads(request.body)
    kind = _kind(data)
    chat = first(dig(data, kind, "chat", "id"), dig(data, kind, "message", "chat", "id")) if kind else ""
    return [EventInfo(chat, kind, dig(data, "update_id"))]


PROVIDER = register(Provider("telegram", verify, extract=extract, sign=sign))
