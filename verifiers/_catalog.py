"""Imports every provider module so each registers itself. One line per provider, sorted."""

from verifiers import (  # noqa: F401
    github,
    slack,
    standard_webhooks,
    stripe,
)
