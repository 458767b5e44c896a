"""Registry errors: one root, with a stable ``reason`` code on each for logs and metrics.

SubscriptionError                     subscription_error
├── ConfigError                       config_error          a declarative config file is invalid (the message
│                                                           lists every problem)
├── SecretError                       secret_error          a stored secret cannot be decrypted (wrong or
│                                                           missing master key)
├── UnreadableRecord                  per record            a stored record is not valid JSON, fails validation
│                                                           (written by a newer version?) or holds a secret that
│                                                           does not decrypt; ``key`` and ``reason`` say which
├── RegistryChanged                   registry_changed      the registry moved between planning an apply and
│                                                           writing it: nothing was written
├── TemplateError (ValueError)        template_error        subscriptions.providers.spec: a placeholder names
│                                                           nothing
└── _Failed                           provider_call_failed  subscriptions.lifecycle: one provider call, private
"""

from __future__ import annotations


class SubscriptionError(Exception):
    """Root of the registry's errors."""

    reason: str = "subscription_error"


class ConfigError(SubscriptionError):
    reason = "config_error"


class SecretError(SubscriptionError):
    reason = "secret_error"


class RegistryChanged(SubscriptionError):
    reason = "registry_changed"


class UnreadableRecord(SubscriptionError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"registry record {key} cannot be read ({reason})")
        self.key = key
        self.reason = reason  # invalid_json | invalid_record | undecryptable_secret
