"""Registry errors.

SubscriptionError
├── NotFound          a referenced project, integration, user, credential or workflow does not exist
├── ConfigError       a declarative config file is invalid (the message lists every problem)
├── SecretError       a stored secret cannot be decrypted (wrong or missing master key)
└── UnreadableRecord  a stored record is not valid JSON, fails validation (written by a newer version?)
                      or holds a secret that does not decrypt; ``key`` and ``reason`` say which and why
"""

from __future__ import annotations


class SubscriptionError(Exception):
    """Root of the registry's errors."""


class NotFound(SubscriptionError):
    pass


class ConfigError(SubscriptionError):
    pass


class SecretError(SubscriptionError):
    pass


class UnreadableRecord(SubscriptionError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"registry record {key} cannot be read ({reason})")
        self.key = key
        self.reason = reason  # invalid_json | invalid_record | undecryptable_secret
