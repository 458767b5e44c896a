"""Registry errors.

SubscriptionError
├── NotFound          a referenced project, integration, user, credential or workflow does not exist
├── ConfigError       a declarative config file is invalid (the message lists every problem)
└── SecretError       a stored secret cannot be decrypted (wrong or missing master key)
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
