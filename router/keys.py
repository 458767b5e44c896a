"""Every Redis key, stream and group name the router uses.

Keys a single command or pipeline touches together share a hash tag (``{...}``) so the layout
works unchanged on Redis Cluster.
"""

from __future__ import annotations

import hashlib

ROUTING_GROUP = "routing"


class Keys:
    def __init__(self, prefix: str = "hr") -> None:
        self.prefix = prefix

    @property
    def ingest(self) -> str:
        """Every accepted webhook, raw body and all."""
        return f"{self.prefix}:{{ingest}}:events"

    @property
    def ingest_dead(self) -> str:
        """Ingest entries that failed routing ``max_deliveries`` times."""
        return f"{self.prefix}:{{ingest}}:dead"

    @property
    def outcomes(self) -> str:
        """Routing outcome of every ingest entry, keyed by its entry id (matched N / no credential / ...)."""
        return f"{self.prefix}:{{ingest}}:outcomes"

    def seen(self, integration_id: str, delivery_id: str) -> str:
        """Marker of a provider delivery id already stored; shares the ingest hash tag (checked in one script)."""
        if len(delivery_id) > 200:  # bound key size whatever a provider (or an attacker) sends
            delivery_id = "sha256:" + hashlib.sha256(delivery_id.encode()).hexdigest()
        return f"{self.prefix}:{{ingest}}:seen:{integration_id}:{delivery_id}"

    @property
    def duplicates(self) -> str:
        """Hash: integration id → repeat deliveries answered without storing."""
        return f"{self.prefix}:{{ingest}}:duplicates"

    def triggers(self, workflow_id: str) -> str:
        """Trigger jobs of one workflow, read by its runner."""
        return f"{self.prefix}:{{wf:{workflow_id}}}:triggers"

    def verification_failures(self, integration_id: str) -> str:
        """Capped list of recent verification failure diagnostics of one integration."""
        return f"{self.prefix}:{{diag}}:{integration_id}:failures"

    def handshake_captures(self, integration_id: str) -> str:
        """Capped list of values providers sent in handshakes (encrypted), for the operator."""
        return f"{self.prefix}:{{diag}}:{integration_id}:captures"
