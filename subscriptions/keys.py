"""Every Redis key the registry uses. All share one hash tag so a change and its version bump can be
written in one MULTI, even on Redis Cluster."""

from __future__ import annotations

KINDS = ("project", "integration", "user", "credential", "workflow", "activation")


class RegistryKeys:
    def __init__(self, prefix: str = "hr") -> None:
        self._base = f"{prefix}:{{registry}}"

    def records(self, kind: str) -> str:
        """Hash: record id → JSON document."""
        if kind not in KINDS:
            raise ValueError(f"unknown record kind {kind!r}")
        return f"{self._base}:{kind}"

    @property
    def version(self) -> str:
        """Counter bumped on every change; readers reload their snapshot when it moves."""
        return f"{self._base}:version"
